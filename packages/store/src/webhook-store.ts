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
  callbackOf,
  callbackWants,
  type DeliveryAttempt,
  type DeliverySpec,
  decryptUserData,
  encryptUserData,
  isJobId,
  type JobCallback,
  type JobEventType,
  type JobView,
  keepFinished,
  newWebhookSecret,
  recordTtl,
  redactUrl,
  terminalEvent,
  type VmEventData,
  type VmEventType,
  WEBHOOK_BACKOFF,
  type WebhookEndpoint,
  type WebhookEventType,
} from '@provisioner/contracts';
import type { EndpointStats } from '@provisioner/contracts/api';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { readJobView } from './job-view.ts';
import { keys } from './keys.ts';
import { runScript } from './scripts.ts';

interface StoredEndpoint extends WebhookEndpoint {
  /** AES-256-GCM (the user-data key, bound to the endpoint id): never plain text in Redis. */
  secret_enc: string;
  /** The secret the last rotation replaced, signing beside the new one until overlap_until. */
  previous_secret_enc?: string | null;
}

function overlapping(e: StoredEndpoint, now = Date.now()): boolean {
  return Boolean(e.previous_secret_enc && e.overlap_until && Date.parse(e.overlap_until) > now);
}

function publicEndpoint(e: StoredEndpoint): WebhookEndpoint {
  const { secret_enc: _s, previous_secret_enc: _p, ...rest } = e;
  return { ...rest, overlap_until: overlapping(e) ? (e.overlap_until ?? null) : null };
}

/** One destination's deliveries (GET /v1/webhooks, the dashboard). */
/** An endpoint's delivery stats: the shape GET /v1/webhooks documents (one definition, in contracts/api). */
export type { EndpointStats };

/** The stats of an endpoint nothing was sent to yet. */
export function noEndpointStats(): EndpointStats {
  return {
    attempts: 0,
    delivered: 0,
    success_rate: null,
    last_error: null,
    last_error_at: null,
    last_delivered_at: null,
    queued: 0,
    retrying: 0,
    next_retry_at: null,
  };
}

const DELIVERY_ID_RE = /^msg_[a-f0-9]{32}$/;
/** BullMQ states of a delivery job that is still to be sent, being sent, or waiting for a retry. */
const IN_FLIGHT = new Set(['waiting', 'prioritized', 'active', 'delayed', 'waiting-children']);
/** Longest a redelivery request holds its delivery's lease (a request that dies leaves it this long). */
const REDELIVERY_LEASE_S = 10;

/** What a redelivery request did; `in_flight` says whether the delivery's own attempts or an earlier redelivery are under way. */
export type RedeliveryOutcome = { outcome: 'queued' | 'not_found' | 'endpoint_gone' } | { outcome: 'in_flight'; by: 'delivery' | 'redelivery' };
/** How long a sender holds outbox entries it took before another may take them. */
export const OUTBOX_LEASE_MS = 30_000;
/** How far back of its last sweep a sweep looks again (workers' clocks, jobs ending while it ran). */
const SWEEP_MARGIN_MS = 60_000;

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
  async createEndpoint(o: { url: string; events: WebhookEventType[]; created_by: string }): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
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

  /**
   * An endpoint with its secret, for signing; `secrets` are all that sign now: the secret, and during a
   * rotation's overlap the one it replaced.
   */
  async endpointWithSecret(id: string, now = Date.now()): Promise<(WebhookEndpoint & { secret: string; secrets: string[] }) | null> {
    const e = await this.stored(id);
    if (!e) return null;
    const secret = decryptUserData(e.secret_enc, this.config.user_data_key, this.aad(id));
    const previous = e.previous_secret_enc && overlapping(e, now) ? [decryptUserData(e.previous_secret_enc, this.config.user_data_key, this.aad(id))] : [];
    return { ...publicEndpoint(e), secret, secrets: [secret, ...previous] };
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    const [[, n] = []] = (await this.redis.multi().hdel(keys.webhookEndpoints(this.prefix), id).del(keys.webhookEndpointStats(this.prefix, id)).exec()) ?? [];
    return n === 1;
  }

  /**
   * A new secret for the endpoint; null when unknown. The old one keeps signing beside it for
   * `overlapSeconds` (0: it stops at once); a secret replaced before (an earlier overlap) stops now.
   */
  async rotateSecret(id: string, overlapSeconds = 0): Promise<{ secret: string; overlap_until: string | null } | null> {
    const e = await this.stored(id);
    if (!e) return null;
    const secret = newWebhookSecret();
    const until = overlapSeconds > 0 ? new Date(Date.now() + overlapSeconds * 1000).toISOString() : null;
    await this.save({
      ...e,
      secret_enc: encryptUserData(secret, this.config.user_data_key, this.aad(id)),
      previous_secret_enc: until ? e.secret_enc : null,
      overlap_until: until,
    });
    return { secret, overlap_until: until };
  }

  async disableEndpoint(id: string, reason: string): Promise<void> {
    const e = await this.stored(id);
    if (e && !e.disabled_at) await this.save({ ...e, disabled_at: new Date().toISOString(), disabled_reason: reason });
  }

  /**
   * Writes the deliveries of one job event into the outbox, then hands them to the delivery queue: to every
   * enabled endpoint that wants the type, and to the job's own webhook_url (terminal events only). Each
   * delivery's id (its `webhook-id`) depends only on the job, the event and the destination, so writing the
   * same event twice sends it once. A terminal event is written once per job (its ended marker is set in the
   * same script): whoever writes it first (the worker that saw the job end, the API that canceled it, or a
   * sweep) decides its body. Returns the delivery ids written.
   *
   * Once written, a delivery is not lost: what could not be handed to the queue now stays in the outbox,
   * which every worker's sender drains (`drainOutbox`).
   */
  async enqueueJobEvent(type: JobEventType, view: JobView, callback: JobCallback | null = null, source = 'event'): Promise<string[]> {
    const terminal = type !== 'job.progress';
    // A terminal event's time is the job's end: the same body whoever writes it.
    const timestamp = (terminal && view.finished_at) || new Date().toISOString();
    const body = JSON.stringify({ type, timestamp, data: view });
    // Progress events repeat: tell them apart by where the job is.
    const instance = type === 'job.progress' ? `${view.step}:${view.progress}:${view.attempts}` : '';
    const specs: DeliverySpec[] = [];
    const id = (dest: string) => `msg_${createHash('sha256').update(`${view.id}|${type}|${instance}|${dest}`).digest('hex').slice(0, 32)}`;
    for (const e of await this.listEndpoints()) {
      if (!e.disabled_at && e.events.includes(type)) specs.push({ id: id(e.id), job_id: view.id, type, endpoint_id: e.id, url: null, token: null, body });
    }
    if (callbackWants(callback, type)) {
      specs.push({ id: id(`job:${callback.url}`), job_id: view.id, type, endpoint_id: null, url: callback.url, token: callback.token, body });
    }
    const made = await this.writeOutbox(view.id, specs, terminal ? `${type} ${source}` : null);
    await this.handOver(made);
    return made;
  }

  /**
   * Writes a VM event's deliveries into the outbox and hands them to the delivery queue: to every enabled
   * endpoint that wants the type, and to `callback` (a create's webhook_url) when its request asked for it.
   * `instance` tells one occurrence from another (vm.ready: the domain's uuid, once; a state change: the
   * states and when it was seen), so writing the same occurrence twice sends it once.
   */
  async enqueueVmEvent(type: VmEventType, data: VmEventData, instance: string, callback: JobCallback | null = null): Promise<string[]> {
    const subject = data.job_id ?? `vm:${data.region}/${data.vm_name}`;
    const body = JSON.stringify({ type, timestamp: data.observed_at, data });
    const id = (dest: string) =>
      `msg_${createHash('sha256').update(`vm:${data.region}/${data.vm_name}|${type}|${instance}|${dest}`).digest('hex').slice(0, 32)}`;
    const specs: DeliverySpec[] = [];
    for (const e of await this.listEndpoints()) {
      if (!e.disabled_at && e.events.includes(type)) specs.push({ id: id(e.id), job_id: subject, type, endpoint_id: e.id, url: null, token: null, body });
    }
    if (callbackWants(callback, type)) {
      specs.push({ id: id(`job:${callback.url}`), job_id: subject, type, endpoint_id: null, url: callback.url, token: callback.token, body });
    }
    const made = await this.writeOutbox(subject, specs, null);
    await this.handOver(made);
    return made;
  }

  /** The outbox script: the specs, the job's delivery list and (for a terminal event) its ended marker, at once. */
  private async writeOutbox(jobId: string, specs: DeliverySpec[], marker: string | null): Promise<string[]> {
    const p = this.prefix;
    const k = [keys.webhookOutbox(p), keys.webhookJobDeliveries(p, jobId), ...specs.map((s) => keys.webhookDelivery(p, s.id))];
    const a: (string | number)[] = [recordTtl(this.config), Date.now(), specs.length, ...specs.flatMap((s) => [s.id, JSON.stringify(s)])];
    if (marker) {
      k.push(keys.webhookEnded(p, jobId));
      a.push(marker);
    }
    return runScript<string[]>(this.redis, 'webhookOutbox', k, a);
  }

  /**
   * Writes the terminal event of a finished job of `queue` (not a job still to be retried, nor the service's
   * own refresh, image-cache and console jobs). Null when there is nothing to write; else the ids written
   * (none when its end was written before).
   */
  async recordJobEnd(queue: Queue, jobId: string, source = 'event'): Promise<string[] | null> {
    if (!isJobId(jobId)) return null;
    const found = await readJobView(queue, jobId);
    if (!found?.job.finishedOn) return null;
    const kind = (found.job.data as { kind?: string }).kind;
    if (kind === 'refresh' || kind === 'console' || kind === 'image-cache') return null;
    const type = terminalEvent(found.view);
    return type ? this.enqueueJobEvent(type, found.view, callbackOf(found.job.data), source) : null;
  }

  /** How a finished job's end was written (`<event type> <who>`), or null when it was not (yet). */
  endedMarker(jobId: string): Promise<string | null> {
    return this.redis.get(keys.webhookEnded(this.prefix, jobId));
  }

  /**
   * Recovers ends nobody wrote (a worker killed between BullMQ recording a job's end and writing its
   * deliveries; a job a stall check failed): every job `queue` finished since the last sweep (less a margin
   * for clocks and ends in flight) without an ended marker gets its terminal event written. Returns the
   * jobs recovered.
   */
  async sweepEnded(queue: Queue, marginMs = SWEEP_MARGIN_MS, batch = 1000): Promise<string[]> {
    const cursorKey = keys.webhookSwept(this.prefix, queue.name);
    const started = Date.now();
    // The first sweep looks back as far as the margin only (older ends were sent before there was a sweep).
    const from = Number((await this.redis.get(cursorKey)) ?? started - marginMs);
    const recovered: string[] = [];
    let last = started - marginMs;
    for (const set of [queue.keys.completed, queue.keys.failed]) {
      if (!set) continue;
      const found = await this.redis.zrangebyscore(set, from, '+inf', 'WITHSCORES', 'LIMIT', 0, batch);
      const ids = found.filter((_, i) => i % 2 === 0).filter(isJobId);
      // A full batch: the next sweep goes on from the last one read.
      if (found.length === 2 * batch) last = Math.min(last, Number(found.at(-1)));
      if (!ids.length) continue;
      const pipe = this.redis.pipeline();
      for (const id of ids) pipe.exists(keys.webhookEnded(this.prefix, id));
      const seen = (await pipe.exec()) ?? [];
      for (const [i, id] of ids.entries()) {
        if (seen[i]?.[1] === 1) continue;
        await this.recordJobEnd(queue, id, 'sweep');
        if ((await this.endedMarker(id))?.endsWith(' sweep')) recovered.push(id);
      }
    }
    await this.redis.set(cursorKey, String(Math.max(from, last)), 'EX', recordTtl(this.config));
    return recovered;
  }

  /**
   * Hands due deliveries from the outbox to the delivery queue (each under its id as BullMQ job id, so two
   * senders queue it once), removing each once queued. A sender that dies holding some leaves them to the
   * next one after OUTBOX_LEASE_MS. Returns how many were queued.
   */
  async drainOutbox(limit = 100): Promise<number> {
    const now = Date.now();
    const ids = await runScript<string[]>(this.redis, 'webhookOutboxClaim', [keys.webhookOutbox(this.prefix)], [now, now + OUTBOX_LEASE_MS, limit]);
    return this.handOver(ids);
  }

  /** Queues each delivery and takes it out of the outbox; one that cannot be queued now stays for a sender. */
  private async handOver(ids: string[]): Promise<number> {
    let queued = 0;
    for (const id of ids) {
      const spec = await this.delivery(id);
      try {
        if (spec) await this.queue.add('deliver', { ...spec, redelivery: false }, { ...this.jobOptions(), jobId: spec.id });
        await this.redis.zrem(keys.webhookOutbox(this.prefix), id);
        if (spec) queued++;
      } catch {
        // Still in the outbox: a sender queues it later.
      }
    }
    return queued;
  }

  /** Deliveries written but not yet queued. */
  outboxSize(): Promise<number> {
    return this.redis.zcard(keys.webhookOutbox(this.prefix));
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

  /**
   * Sends a delivery again, same webhook-id and body, with `webhooks.redelivery_attempts` tries (a resend
   * now, not another full schedule). One at a time per delivery: `in_flight` while the delivery itself or
   * its latest redelivery is still queued, being sent or waiting for a retry.
   */
  async redeliver(jobId: string, id: string): Promise<RedeliveryOutcome> {
    const spec = DELIVERY_ID_RE.test(id) ? await this.delivery(id) : null;
    if (!spec || spec.job_id !== jobId) return { outcome: 'not_found' };
    if (spec.endpoint_id) {
      const e = await this.stored(spec.endpoint_id);
      if (!e || e.disabled_at) return { outcome: 'endpoint_gone' };
    }
    const p = this.prefix;
    // Held while checking and queueing, so two requests at once cannot both find nothing in flight.
    const lease = keys.webhookRedeliveryLease(p, spec.id);
    if ((await this.redis.set(lease, '1', 'EX', REDELIVERY_LEASE_S, 'NX')) === null) return { outcome: 'in_flight', by: 'redelivery' };
    try {
      const latest = await this.redis.get(keys.webhookRedelivery(p, spec.id));
      for (const [by, bullId] of [
        ['delivery', spec.id],
        ['redelivery', latest],
      ] as const) {
        if (bullId && IN_FLIGHT.has(await this.queue.getJobState(bullId))) return { outcome: 'in_flight', by };
      }
      const bullId = `${spec.id}-r${randomBytes(6).toString('hex')}`;
      await this.queue.add(
        'deliver',
        { ...spec, redelivery: true },
        { ...this.jobOptions(), attempts: this.config.webhooks.redelivery_attempts, jobId: bullId },
      );
      await this.redis.set(keys.webhookRedelivery(p, spec.id), bullId, 'EX', recordTtl(this.config));
      return { outcome: 'queued' };
    } finally {
      await this.redis.del(lease);
    }
  }

  async recordAttempt(jobId: string, a: DeliveryAttempt): Promise<void> {
    const key = keys.webhookLog(this.prefix, jobId);
    const m = this.redis.multi().rpush(key, JSON.stringify(a)).expire(key, recordTtl(this.config));
    if (a.endpoint_id) {
      // The endpoint's running counts: every attempt, and whether it got through (skipped ones are not tries).
      const stats = keys.webhookEndpointStats(this.prefix, a.endpoint_id);
      if (a.outcome !== 'skipped') m.hincrby(stats, 'attempts', 1);
      if (a.outcome === 'delivered') m.hincrby(stats, 'delivered', 1).hset(stats, 'last_delivered_at', a.at);
      else if (a.outcome !== 'skipped') m.hset(stats, 'last_error', a.error ?? a.outcome, 'last_error_at', a.at);
    }
    await m.exec();
  }

  /**
   * Each registered endpoint's deliveries: counts and success rate of its attempts so far, its last error,
   * and what of it waits in the delivery queue (waiting or retrying, and when its next retry is due).
   * Deliveries to jobs' own webhook_url are under `webhook_url`.
   */
  async endpointStats(): Promise<Map<string, EndpointStats>> {
    const out = new Map<string, EndpointStats>();
    const ids = (await this.listEndpoints()).map((e) => e.id);
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(keys.webhookEndpointStats(this.prefix, id));
    const rows = (await pipe.exec()) ?? [];
    for (const [i, id] of ids.entries()) {
      const h = (rows[i]?.[1] ?? {}) as Record<string, string>;
      const attempts = Number(h.attempts ?? 0);
      const delivered = Number(h.delivered ?? 0);
      out.set(id, {
        ...noEndpointStats(),
        attempts,
        delivered,
        success_rate: attempts ? Math.round((delivered / attempts) * 1000) / 1000 : null,
        last_error: h.last_error ?? null,
        last_error_at: h.last_error_at ?? null,
        last_delivered_at: h.last_delivered_at ?? null,
      });
    }
    // What waits in the delivery queue, by destination.
    // BullMQ scores a delayed job by when it is due (ms) times 4096, plus a counter.
    const delayedAt = new Map<string, number>();
    const z = this.queue.keys.delayed ? await this.redis.zrange(this.queue.keys.delayed, 0, -1, 'WITHSCORES') : [];
    for (let i = 0; i + 1 < z.length; i += 2) delayedAt.set(String(z[i]), Math.floor(Number(z[i + 1]) / 0x1000));
    const jobs = await this.queue.getJobs(['wait', 'prioritized', 'active', 'delayed'], 0, 4999);
    for (const j of jobs) {
      if (!j) continue;
      const dest = (j.data as DeliverySpec).endpoint_id ?? 'webhook_url';
      const st = out.get(dest) ?? noEndpointStats();
      out.set(dest, st);
      st.queued++;
      const due = delayedAt.get(String(j.id));
      if (due !== undefined && j.attemptsMade > 0) {
        st.retrying++;
        const at = new Date(due).toISOString();
        if (!st.next_retry_at || at < st.next_retry_at) st.next_retry_at = at;
      }
    }
    return out;
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
