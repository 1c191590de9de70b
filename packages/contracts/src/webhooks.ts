/**
 * Webhooks shared by the API and the worker: registered endpoints (in Redis, secrets encrypted),
 * the delivery queue, Standard Webhooks signing, and each job's delivery log. Deliveries themselves
 * (HTTP, SSRF guard, retries) run in the worker's delivery worker.
 *
 * @example
 * const hooks = new Webhooks(redis, config, queues.get(WEBHOOK_QUEUE));
 * await hooks.enqueueJobEvent('job.succeeded', view, callbackOf(job.data));
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Config } from './config/schema.ts';
import { decryptUserData, encryptUserData } from './crypto.ts';
import type { JobView } from './jobs.ts';
import { keepFinished, recordTtl } from './queues.ts';

/** The delivery queue (under the same prefix as the host queues). */
export const WEBHOOK_QUEUE = 'webhooks';
/** The backoff type of delivery jobs; the delivery worker defines it (exponential with jitter). */
export const WEBHOOK_BACKOFF = 'webhook';

export const JOB_EVENT_TYPES = ['job.succeeded', 'job.failed', 'job.canceled', 'job.progress'] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

/**
 * Why a webhook URL cannot be used at all (null when it can): http(s), well-formed, a host, no
 * credentials (deliveries are signed instead). Where it points is checked when connecting.
 */
export function webhookUrlProblem(s: string): string | null {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return 'not a well-formed URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http(s) URL';
  if (!u.hostname) return 'must name a host';
  if (u.username || u.password) return 'must not carry credentials (deliveries are signed)';
  if (/\s/.test(s)) return 'must not contain whitespace';
  return null;
}

export const WebhookUrlSchema = z
  .string()
  .max(2048, 'at most 2048 characters')
  .superRefine((s, ctx) => {
    const problem = webhookUrlProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A new `whsec_…` secret: 32 random bytes, base64. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Standard Webhooks signature: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed with the decoded secret. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** Redis keys of webhooks; all carry the prefix's hash tag. */
export const webhookKeys = {
  /** HASH endpoint id → StoredEndpoint JSON. */
  endpoints: (p: string) => `${p}:webhook-endpoints`,
  /** DeliverySpec JSON of one delivery (what redelivery sends again). */
  delivery: (p: string, id: string) => `${p}:webhook-delivery:${id}`,
  /** LIST of the delivery ids of one job, in the order they were made. */
  jobDeliveries: (p: string, jobId: string) => `${p}:webhook-deliveries:${jobId}`,
  /** LIST of DeliveryAttempt JSON of one job: every attempt of every delivery. */
  log: (p: string, jobId: string) => `${p}:webhook-log:${jobId}`,
};

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: JobEventType[];
  created_at: string;
  created_by: string;
  /** Set when the receiver answered 410 Gone: nothing more is sent to it. */
  disabled_at: string | null;
  disabled_reason: string | null;
}

interface StoredEndpoint extends WebhookEndpoint {
  /** AES-256-GCM (the user-data key, bound to the endpoint id): never plain text in Redis. */
  secret_enc: string;
}

/** One delivery: an event for one destination. Its id is the `webhook-id`, the same on every attempt. */
export interface DeliverySpec {
  id: string;
  job_id: string;
  type: JobEventType;
  /** A registered endpoint (its URL and secret are read when sending), or null for the job's own webhook_url. */
  endpoint_id: string | null;
  url: string | null;
  /** The submitting token's name, whose webhook_secret signs the job's own callback. */
  token: string | null;
  body: string;
}

export type AttemptOutcome = 'delivered' | 'retrying' | 'failed' | 'refused' | 'skipped';

export interface DeliveryAttempt {
  delivery_id: string;
  type: JobEventType;
  endpoint_id: string | null;
  url: string;
  attempt: number;
  redelivery: boolean;
  at: string;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  outcome: AttemptOutcome;
}

/** The job's own callback, as the API stores it in the job data (token name and URL, never a secret). */
export interface JobCallback {
  url: string;
  token: string;
}

export function callbackOf(data: unknown): JobCallback | null {
  const d = data as { webhook_url?: unknown; submitted_by?: unknown } | null;
  return d && typeof d.webhook_url === 'string' && typeof d.submitted_by === 'string' ? { url: d.webhook_url, token: d.submitted_by } : null;
}

/** The event a terminal job view means. */
export function terminalEvent(view: JobView): JobEventType | null {
  if (view.state === 'succeeded') return 'job.succeeded';
  if (view.state === 'failed') return 'job.failed';
  if (view.state === 'canceled') return 'job.canceled';
  return null;
}

function publicEndpoint(e: StoredEndpoint): WebhookEndpoint {
  const { secret_enc: _s, ...rest } = e;
  return rest;
}

export class Webhooks {
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
    const raw = await this.redis.hget(webhookKeys.endpoints(this.prefix), id);
    return raw ? (JSON.parse(raw) as StoredEndpoint) : null;
  }

  private async save(e: StoredEndpoint): Promise<void> {
    await this.redis.hset(webhookKeys.endpoints(this.prefix), e.id, JSON.stringify(e));
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
    const all = await this.redis.hvals(webhookKeys.endpoints(this.prefix));
    return all.map((s) => publicEndpoint(JSON.parse(s) as StoredEndpoint)).sort((a, b) => (a.created_at < b.created_at ? -1 : 1));
  }

  /** An endpoint with its secret, for signing. */
  async endpointWithSecret(id: string): Promise<(WebhookEndpoint & { secret: string }) | null> {
    const e = await this.stored(id);
    return e ? { ...publicEndpoint(e), secret: decryptUserData(e.secret_enc, this.config.user_data_key, this.aad(id)) } : null;
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    return (await this.redis.hdel(webhookKeys.endpoints(this.prefix), id)) === 1;
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
    for (const spec of specs) {
      if ((await this.redis.set(webhookKeys.delivery(this.prefix, spec.id), JSON.stringify(spec), 'EX', recordTtl(this.config), 'NX')) === null) continue;
      await this.redis
        .multi()
        .rpush(webhookKeys.jobDeliveries(this.prefix, view.id), spec.id)
        .expire(webhookKeys.jobDeliveries(this.prefix, view.id), recordTtl(this.config))
        .exec();
      try {
        await this.queue.add('deliver', { ...spec, redelivery: false }, { ...this.jobOptions(), jobId: spec.id });
      } catch (e) {
        // Not queued: forget it, so the same event queued again is not taken for a duplicate.
        await this.redis.del(webhookKeys.delivery(this.prefix, spec.id)).catch(() => undefined);
        await this.redis.lrem(webhookKeys.jobDeliveries(this.prefix, view.id), 0, spec.id).catch(() => undefined);
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
    const raw = await this.redis.get(webhookKeys.delivery(this.prefix, id));
    return raw ? (JSON.parse(raw) as DeliverySpec) : null;
  }

  /** Sends a delivery again, same webhook-id and body (a new schedule of attempts). */
  async redeliver(jobId: string, id: string): Promise<'queued' | 'not_found' | 'endpoint_gone'> {
    const spec = /^msg_[a-f0-9]{32}$/.test(id) ? await this.delivery(id) : null;
    if (!spec || spec.job_id !== jobId) return 'not_found';
    if (spec.endpoint_id) {
      const e = await this.stored(spec.endpoint_id);
      if (!e || e.disabled_at) return 'endpoint_gone';
    }
    await this.queue.add('deliver', { ...spec, redelivery: true }, { ...this.jobOptions(), jobId: `${spec.id}-r${randomBytes(6).toString('hex')}` });
    return 'queued';
  }

  async recordAttempt(jobId: string, a: DeliveryAttempt): Promise<void> {
    const key = webhookKeys.log(this.prefix, jobId);
    await this.redis.multi().rpush(key, JSON.stringify(a)).expire(key, recordTtl(this.config)).exec();
  }

  /** The job's deliveries, each with every attempt so far, oldest first. */
  async deliveries(jobId: string) {
    const [ids, log] = await Promise.all([
      this.redis.lrange(webhookKeys.jobDeliveries(this.prefix, jobId), 0, -1),
      this.redis.lrange(webhookKeys.log(this.prefix, jobId), 0, -1),
    ]);
    const attempts = log.map((s) => JSON.parse(s) as DeliveryAttempt);
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

/** A URL as logs and delivery logs show it: no query string (it may carry a receiver's token). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}
