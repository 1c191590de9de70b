/**
 * Webhooks' Redis state: registered endpoints (secrets encrypted), each delivery's spec, each job's
 * delivery ids and attempt log, and the delivery queue's jobs. Signing, the event types and the shapes
 * are in contracts; sending (HTTP, SSRF guard, retries) is the worker's delivery worker.
 *
 * @example
 * const hooks = new WebhookStore(redis, config, queues.get(WEBHOOK_QUEUE));
 * await hooks.enqueueJobEvent('job.succeeded', view, callbackOf(job.data));
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  type Config,
  type DeliveryAttempt,
  type DeliverySpec,
  decryptUserData,
  encryptUserData,
  type JobCallback,
  type JobEventType,
  type JobView,
  keepFinished,
  newWebhookSecret,
  recordTtl,
  redactUrl,
  WEBHOOK_BACKOFF,
  type WebhookEndpoint,
} from '@provisioner/contracts';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { runScript } from './scripts.ts';

interface StoredEndpoint extends WebhookEndpoint {
  /** AES-256-GCM (the user-data key, bound to the endpoint id): never plain text in Redis. */
  secret_enc: string;
}

function publicEndpoint(e: StoredEndpoint): WebhookEndpoint {
  const { secret_enc: _s, ...rest } = e;
  return rest;
}

const DELIVERY_ID_RE = /^msg_[a-f0-9]{32}$/;

export class WebhookStore {
  constructor(
    readonly redis: Redis,
    readonly config: Config,
    readonly queue: Queue,
  ) {}

  private get prefix(): string {
    return this.config.queue_prefix;
  }

  private aad(id: string): string {
    return `webhook:${id}`;
  }

  private async stored(id: string): Promise<StoredEndpoint | null> {
    const raw = await this.redis.hget(keys.webhookEndpoints(this.prefix), id);
    return raw ? (JSON.parse(raw) as StoredEndpoint) : null;
  }

  private async save(e: StoredEndpoint): Promise<void> {
    await this.redis.hset(keys.webhookEndpoints(this.prefix), e.id, JSON.stringify(e));
  }

  /** Registers an endpoint; the secret is returned here (and by rotateSecret) only. */
  async createEndpoint(o: { url: string; events: JobEventType[]; created_by: string }): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const id = `whk_${randomUUID().replaceAll('-', '')}`;
    const secret = newWebhookSecret();
    const e: StoredEndpoint = {
      id,
      url: o.url,
      events: [...new Set(o.events)],
      created_at: new Date().toISOString(),
      created_by: o.created_by,
      disabled_at: null,
      disabled_reason: null,
      secret_enc: encryptUserData(secret, this.config.user_data_key, this.aad(id)),
    };
    await this.save(e);
    return { endpoint: publicEndpoint(e), secret };
  }

  async listEndpoints(): Promise<WebhookEndpoint[]> {
    const all = await this.redis.hvals(keys.webhookEndpoints(this.prefix));
    return all.map((s) => publicEndpoint(JSON.parse(s) as StoredEndpoint)).sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  }

  /** An endpoint with its secret, for signing. */
  async endpointWithSecret(id: string): Promise<(WebhookEndpoint & { secret: string }) | null> {
    const e = await this.stored(id);
    return e ? { ...publicEndpoint(e), secret: decryptUserData(e.secret_enc, this.config.user_data_key, this.aad(id)) } : null;
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    return (await this.redis.hdel(keys.webhookEndpoints(this.prefix), id)) === 1;
  }

  /** A new secret for the endpoint (the old one stops signing at once); null when unknown. */
  async rotateSecret(id: string): Promise<string | null> {
    const e = await this.stored(id);
    if (!e) return null;
    const secret = newWebhookSecret();
    await this.save({ ...e, secret_enc: encryptUserData(secret, this.config.user_data_key, this.aad(id)) });
    return secret;
  }

  async disableEndpoint(id: string, reason: string): Promise<void> {
    const e = await this.stored(id);
    if (e && !e.disabled_at) await this.save({ ...e, disabled_at: new Date().toISOString(), disabled_reason: reason });
  }

  /**
   * Queues the deliveries of one job event: to every enabled endpoint that wants the type, and to the
   * job's own webhook_url (terminal events only). Each delivery's id depends only on the job, the event
   * and the destination, so queuing the same event twice sends it once. Returns the delivery ids.
   */
  async enqueueJobEvent(type: JobEventType, view: JobView, callback: JobCallback | null = null): Promise<string[]> {
    const timestamp = new Date().toISOString();
    const body = JSON.stringify({ type, timestamp, data: view });
    // Progress events repeat: tell them apart by where the job is.
    const instance = type === 'job.progress' ? `${view.step}:${view.progress}:${view.attempts}` : '';
    const specs: DeliverySpec[] = [];
    const id = (dest: string) => `msg_${createHash('sha256').update(`${view.id}|${type}|${instance}|${dest}`).digest('hex').slice(0, 32)}`;
    for (const e of await this.listEndpoints()) {
      if (!e.disabled_at && e.events.includes(type)) specs.push({ id: id(e.id), job_id: view.id, type, endpoint_id: e.id, url: null, token: null, body });
    }
    if (callback && type !== 'job.progress') {
      specs.push({ id: id(`job:${callback.url}`), job_id: view.id, type, endpoint_id: null, url: callback.url, token: callback.token, body });
    }
    const made: string[] = [];
    const list = keys.webhookJobDeliveries(this.prefix, view.id);
    for (const spec of specs) {
      const delivery = keys.webhookDelivery(this.prefix, spec.id);
      if ((await runScript<number>(this.redis, 'webhookAddDelivery', [delivery, list], [spec.id, JSON.stringify(spec), recordTtl(this.config)])) === 0)
        continue;
      try {
        await this.queue.add('deliver', { ...spec, redelivery: false }, { ...this.jobOptions(), jobId: spec.id });
      } catch (e) {
        // Not queued: forget it, so the same event queued again is not taken for a duplicate.
        await this.redis
          .multi()
          .del(delivery)
          .lrem(list, 0, spec.id)
          .exec()
          .catch(() => undefined);
        throw e;
      }
      made.push(spec.id);
    }
    return made;
  }

  private jobOptions() {
    return {
      attempts: this.config.webhooks.attempts,
      backoff: { type: WEBHOOK_BACKOFF },
      ...keepFinished(this.config),
    };
  }

  async delivery(id: string): Promise<DeliverySpec | null> {
    const raw = await this.redis.get(keys.webhookDelivery(this.prefix, id));
    return raw ? (JSON.parse(raw) as DeliverySpec) : null;
  }

  /** Sends a delivery again, same webhook-id and body (a new schedule of attempts). */
  async redeliver(jobId: string, id: string): Promise<'queued' | 'not_found' | 'endpoint_gone'> {
    const spec = DELIVERY_ID_RE.test(id) ? await this.delivery(id) : null;
    if (!spec || spec.job_id !== jobId) return 'not_found';
    if (spec.endpoint_id) {
      const e = await this.stored(spec.endpoint_id);
      if (!e || e.disabled_at) return 'endpoint_gone';
    }
    await this.queue.add('deliver', { ...spec, redelivery: true }, { ...this.jobOptions(), jobId: `${spec.id}-r${randomBytes(6).toString('hex')}` });
    return 'queued';
  }

  async recordAttempt(jobId: string, a: DeliveryAttempt): Promise<void> {
    const key = keys.webhookLog(this.prefix, jobId);
    await this.redis.multi().rpush(key, JSON.stringify(a)).expire(key, recordTtl(this.config)).exec();
  }

  /** Every attempt logged for the job's deliveries, oldest first. */
  async attempts(jobId: string): Promise<DeliveryAttempt[]> {
    return (await this.redis.lrange(keys.webhookLog(this.prefix, jobId), 0, -1)).map((s) => JSON.parse(s) as DeliveryAttempt);
  }

  /** The job's deliveries, each with every attempt so far, oldest first. */
  async deliveries(jobId: string) {
    const [ids, attempts] = await Promise.all([this.redis.lrange(keys.webhookJobDeliveries(this.prefix, jobId), 0, -1), this.attempts(jobId)]);
    const out = [];
    for (const id of ids) {
      const spec = await this.delivery(id);
      const mine = attempts.filter((a) => a.delivery_id === id);
      out.push({
        id,
        type: spec?.type ?? mine[0]?.type ?? null,
        endpoint_id: spec?.endpoint_id ?? null,
        url: mine.at(-1)?.url ?? (spec?.url ? redactUrl(spec.url) : null),
        state: mine.at(-1)?.outcome ?? 'pending',
        attempts: mine.map(({ delivery_id: _d, type: _t, endpoint_id: _e, url: _u, ...rest }) => rest),
      });
    }
    return out;
  }
}
