/**
 * Idempotency-Key on every mutating route. The first request with a key claims it atomically (SET NX)
 * before anything is submitted; the job it submits and its answer are recorded under the key for
 * `idempotency_ttl_seconds`. A replay with the same key, route, caller and body gets the recorded answer
 * (the same 202 job, or the same legacy outcome), also after BullMQ removed the job; the same key with
 * another request is 422. Concurrent replays wait briefly for the first request's job instead of
 * submitting their own, so 50 identical requests make one job.
 */
import { createHash } from 'node:crypto';
import { type IdempotencyRecord, IdempotencyStore } from '@provisioner/store';
import type { Job } from 'bullmq';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyText } from './body.ts';
import type { AppEnv, Services } from './context.ts';
import { ApiError } from './errors.ts';

/** Printable ASCII without spaces, bounded: it goes into a hash, never into a key or a log as it is. */
export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;
/** A claim whose request died before submitting expires this soon, so the key can be used again. */
const PENDING_TTL_S = 60;
/** How long a replay waits for the first request to submit its job. */
const CLAIM_WAIT_MS = 10_000;
const POLL_MS = 25;
/** Answers larger than this are not stored (job views and legacy answers are far smaller). */
const MAX_STORED_BODY = 256 * 1024;

/** What routes tell the middleware: the job they submitted, and (new routes) the answer at once. */
export interface IdempotencyTracker {
  /** A legacy route submitted `job` and now waits up to `waitMs` for it. */
  submitted(job: Job, waitMs: number): Promise<void>;
  /** A new route answered `status` with `body` for `job`. */
  answered(job: Job, status: number, body: unknown, location: string): Promise<void>;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** JSON with object keys sorted at every level, so key order and whitespace do not change the hash. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function canonicalBody(text: string): string {
  if (text.trim() === '') return '';
  try {
    return canonicalJson(JSON.parse(text));
  } catch {
    return `raw:${text}`;
  }
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The middleware. `replayOutcome` waits for a legacy route's job (shared with the routes, so a replay
 * answers exactly as the first request would have).
 */
export function idempotency(s: Services, replayOutcome: (c: Context<AppEnv>, job: Job, ms: number) => Promise<Response>): MiddlewareHandler<AppEnv> {
  const ttl = s.config.idempotency_ttl_seconds;
  const store = new IdempotencyStore(s.redis, s.config.queue_prefix, s.config.user_data_key);
  return async (c, next) => {
    const key = c.req.header('idempotency-key');
    if (key === undefined || !MUTATING.has(c.req.method)) return next();
    if (!IDEMPOTENCY_KEY_RE.test(key)) throw new ApiError('BAD_REQUEST', 'Idempotency-Key must be 1-255 printable ASCII characters without spaces');
    const caller = c.get('caller')?.name ?? 'anonymous';
    const hash = sha256(JSON.stringify([c.req.method, c.req.path, caller, canonicalBody(await bodyText(c))]));

    const deadline = Date.now() + CLAIM_WAIT_MS;
    for (;;) {
      const rec = await store.claim(caller, key, hash, PENDING_TTL_S);
      if (!rec) break;
      if (rec.hash !== hash) throw new ApiError('VALIDATION', 'this Idempotency-Key was used with a different request');
      if (rec.state !== 'pending') return replay(c, rec);
      if (Date.now() > deadline) {
        throw new ApiError('CONFLICT', 'a request with this Idempotency-Key is still being processed', { headers: { 'Retry-After': '1' } });
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }

    let jobId: string | null = null;
    let answered = false;
    const write = (rec: IdempotencyRecord) => store.save(caller, key, rec, ttl);
    c.set('idempotency', {
      submitted: async (job, waitMs) => {
        jobId = String(job.id);
        await write({ hash, state: 'job', job_id: jobId, wait_ms: waitMs });
      },
      answered: async (job, status, body, location) => {
        jobId = String(job.id);
        answered = true;
        await write({ hash, state: 'done', job_id: jobId, response: { status, body: JSON.stringify(body), location } });
      },
    });

    try {
      await next();
    } catch (e) {
      if (!jobId) await store.release(caller, key).catch(() => undefined);
      throw e;
    }
    if (answered) return;
    const res = c.res;
    const transient = res.status === 429 || res.status >= 500;
    if (jobId) {
      // A legacy route: its outcome (success or the job's failure) is the answer to replay; a timeout or
      // an outage is not, the replay waits for the same job again.
      if (!transient || res.status === 502) await storeResponse(res, { hash, state: 'done', job_id: jobId });
    } else if (res.status >= 200 && res.status < 300) {
      await storeResponse(res, { hash, state: 'done' });
    } else {
      // Nothing was submitted (validation, not found, conflict, outage): the key is free again.
      await store.release(caller, key).catch(() => undefined);
    }

    async function storeResponse(r: Response, rec: IdempotencyRecord): Promise<void> {
      const body = await r.clone().text();
      if (body.length > MAX_STORED_BODY || (r.headers.get('content-type') ?? '').includes('event-stream')) return;
      await write({ ...rec, response: { status: r.status, body, location: r.headers.get('location') } });
    }
  };

  async function replay(c: Context<AppEnv>, rec: IdempotencyRecord): Promise<Response> {
    c.header('Idempotent-Replayed', 'true');
    if (rec.unreadable) {
      throw new ApiError('CONFLICT', 'the answer recorded for this Idempotency-Key cannot be read (the service key changed since): use a new key');
    }
    if (rec.response) {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'Idempotent-Replayed': 'true' };
      if (rec.response.location) headers.Location = rec.response.location;
      if (rec.response.status === 202) headers['Retry-After'] = '1';
      return c.body(rec.response.body, rec.response.status as 200, headers);
    }
    const found = rec.job_id ? await s.queues.find(rec.job_id) : null;
    if (!found) throw new ApiError('JOB_FAILED', 'the job of this Idempotency-Key was removed before it finished', { jobId: rec.job_id });
    return replayOutcome(c, found.job, rec.wait_ms ?? s.config.legacy_wait_ms);
  }
}
