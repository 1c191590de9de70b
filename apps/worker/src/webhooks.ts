/**
 * Webhook deliveries: a BullMQ Worker on the `webhooks` queue that POSTs each event, signed the
 * Standard Webhooks way, through the SSRF guard; retries on its own exponential schedule with jitter;
 * disables an endpoint that answers 410. Host queues only write events (`onJobEnded`), so a slow or
 * dead receiver never holds up provisioning.
 *
 * No event is lost to a crash: deliveries are written to the store's outbox in one script with the job's
 * ended marker, and every worker runs a sender that hands the outbox to the delivery queue (what a killed
 * worker left too) and a sweep that writes the end of every finished job that has no marker (a worker
 * killed between BullMQ recording the end and writing it, or a job a stall check failed).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  type AttemptOutcome,
  type Config,
  callbackOf,
  callbackWants,
  type DeliverySpec,
  isJobId,
  redactUrl,
  signWebhookAll,
  tokenWebhookSecrets,
  WEBHOOK_BACKOFF,
  WEBHOOK_QUEUE,
} from '@provisioner/contracts';
import { duplicateRedis, readJobView, WebhookStore } from '@provisioner/store';
import { type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { EgressGuard, SsrfRefused } from './ssrf.ts';

/** How much of a receiver's answer is read (and dropped). */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface PostResult {
  status: number | null;
  duration_ms: number;
  error: string | null;
  /** The guard refused the address: no connection was made. */
  refused: boolean;
}

/**
 * POSTs one signed body. Never follows redirects; the whole exchange is bounded by `timeoutMs`.
 */
export function postWebhook(o: { url: string; headers: Record<string, string>; body: string; timeoutMs: number; guard: EgressGuard }): Promise<PostResult> {
  const start = performance.now();
  const ms = () => Math.round(performance.now() - start);
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    return Promise.resolve({ status: null, duration_ms: 0, error: 'not a well-formed URL', refused: true });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return Promise.resolve({ status: null, duration_ms: 0, error: 'refused: not http(s)', refused: true });
  const pre = o.guard.precheck(url);
  if (pre) return Promise.resolve({ status: null, duration_ms: ms(), error: pre, refused: true });
  const lookup = o.guard.hostAllowed(url.hostname) ? undefined : o.guard.lookup();
  return new Promise<PostResult>((resolve) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: 'POST',
      headers: {
        ...o.headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(o.body)),
        'user-agent': 'provisioner-webhooks/1',
      },
      ...(lookup ? { lookup } : {}),
      // A fresh connection per attempt: every attempt resolves (and is checked) again.
      agent: false,
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    req.on('response', (res: IncomingMessage) => {
      let read = 0;
      res.on('data', (d: Buffer) => {
        read += d.length;
        if (read > MAX_ANSWER_BYTES) res.destroy();
      });
      const done = () => {
        const status = res.statusCode ?? null;
        const ok = status !== null && status >= 200 && status < 300;
        const error = ok ? null : status !== null && status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`;
        resolve({ status, duration_ms: ms(), error, refused: false });
      };
      res.on('end', done);
      res.on('close', done);
      res.on('error', () => undefined);
    });
    req.on('error', (e: Error & { code?: string }) => {
      const refused = e instanceof SsrfRefused;
      const error = refused
        ? e.message
        : e.name === 'AbortError' || e.name === 'TimeoutError'
          ? `timeout after ${o.timeoutMs} ms`
          : `${e.code ?? e.name}: ${e.message}`;
      resolve({ status: null, duration_ms: ms(), error, refused });
    });
    req.end(o.body);
  });
}

/** Exponential delay before attempt `attemptsMade + 1`, capped, with ±20% jitter (so retries of many deliveries spread out). */
export function webhookBackoff(attemptsMade: number, base: number, cap: number, random = Math.random): number {
  const exp = Math.min(cap, base * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(exp * (0.8 + 0.4 * random()));
}

export interface WebhookRuntime {
  webhooks: WebhookStore;
  worker: Worker;
  /** Writes the deliveries of a job that just ended (call from the host workers' completed/failed events). */
  onJobEnded(queue: Queue, job: Job | undefined): Promise<void>;
  /** One round of the sender (drain the outbox) and, every `sweep_ms`, of the sweep (tests call it too). */
  tick(sweep?: boolean): Promise<void>;
  /** Enqueues job.progress deliveries for endpoints that want them. */
  onProgress(queue: Queue, job: Job): Promise<void>;
  /** Enqueues one event's deliveries (e.g. `job.canceled` from whoever cancels a job). */
  enqueueJobEvent: WebhookStore['enqueueJobEvent'];
  close(): Promise<void>;
}

function isPublicJob(job: Job): boolean {
  // Refreshes and console reads are the API's own errands (a console job's view says nothing anyway).
  const kind = (job.data as { kind?: string }).kind;
  return isJobId(String(job.id)) && kind !== 'refresh' && kind !== 'console';
}

/**
 * `onAttempt` is told each attempt's outcome (the worker's delivery counter); `hostQueues` are the queues
 * whose finished jobs the sweep checks.
 */
export function startWebhookWorker(
  config: Config,
  redis: Redis,
  log: Logger,
  onAttempt?: (outcome: AttemptOutcome, endpoint: string | null) => void,
  hostQueues: () => Queue[] = () => [],
): WebhookRuntime {
  const cfg = config.webhooks;
  const guard = new EgressGuard(cfg);
  const queue = new Queue(WEBHOOK_QUEUE, { connection: redis, prefix: config.queue_prefix });
  queue.on('error', (e) => log.warn({ err: e.message, queue: WEBHOOK_QUEUE }, 'queue error'));
  const webhooks = new WebhookStore(redis, config, queue);

  const processor = async (job: Job<DeliverySpec & { redelivery?: boolean }>) => {
    const spec = job.data;
    const attempt = job.attemptsMade + 1;
    const final = attempt >= (job.opts.attempts ?? 1);
    const record = (url: string, r: PostResult | null, outcome: AttemptOutcome, error: string | null = r?.error ?? null) => {
      onAttempt?.(outcome, spec.endpoint_id);
      return webhooks.recordAttempt(spec.job_id, {
        delivery_id: spec.id,
        type: spec.type,
        endpoint_id: spec.endpoint_id,
        url: redactUrl(url),
        attempt,
        redelivery: Boolean(spec.redelivery),
        at: new Date().toISOString(),
        status_code: r?.status ?? null,
        duration_ms: r?.duration_ms ?? 0,
        error,
        outcome,
      });
    };

    let url: string;
    let secrets: string[];
    if (spec.endpoint_id) {
      const e = await webhooks.endpointWithSecret(spec.endpoint_id);
      if (!e || e.disabled_at) {
        await record(e?.url ?? '', null, 'skipped', e ? `endpoint disabled: ${e.disabled_reason}` : 'endpoint deleted');
        return { skipped: true };
      }
      url = e.url;
      secrets = e.secrets;
    } else {
      url = spec.url ?? '';
      // The token's webhook_secret, and while a rotation's overlap lasts its previous one.
      secrets = tokenWebhookSecrets(config.tokens.find((t) => t.name === spec.token));
      if (!secrets.length) {
        await record(url, null, 'failed', `token '${spec.token}' has no webhook_secret: nothing to sign with`);
        throw new UnrecoverableError('no webhook secret');
      }
    }

    const ts = Math.floor(Date.now() / 1000);
    const headers = { 'webhook-id': spec.id, 'webhook-timestamp': String(ts), 'webhook-signature': signWebhookAll(secrets, spec.id, ts, spec.body) };
    const r = await postWebhook({ url, headers, body: spec.body, timeoutMs: cfg.timeout_ms, guard });
    const dlog = { delivery_id: spec.id, job_id: spec.job_id, type: spec.type, endpoint_id: spec.endpoint_id, url: redactUrl(url), attempt };
    if (r.status !== null && r.status >= 200 && r.status < 300) {
      await record(url, r, 'delivered');
      log.info({ ...dlog, status: r.status, ms: r.duration_ms }, 'webhook delivered');
      return { status: r.status };
    }
    if (r.refused) {
      await record(url, r, 'refused');
      log.warn({ ...dlog, err: r.error }, 'webhook refused');
      throw new UnrecoverableError(r.error ?? 'refused');
    }
    if (r.status === 410) {
      await record(url, r, 'failed', 'HTTP 410 Gone: receiver asked to stop');
      if (spec.endpoint_id) await webhooks.disableEndpoint(spec.endpoint_id, 'the receiver answered 410 Gone');
      log.warn(dlog, 'webhook receiver gone: no more deliveries');
      throw new UnrecoverableError('HTTP 410 Gone');
    }
    await record(url, r, final ? 'failed' : 'retrying');
    log.warn({ ...dlog, status: r.status, err: r.error, final }, 'webhook attempt failed');
    throw new Error(r.error ?? 'delivery failed');
  };

  const worker = new Worker(WEBHOOK_QUEUE, processor, {
    connection: duplicateRedis(redis, { maxRetriesPerRequest: null }),
    prefix: config.queue_prefix,
    concurrency: cfg.concurrency,
    // A delivery a killed worker was sending is handed back like a host job: after its lock expires, and
    // as often as a host job may be (BullMQ's default of once would fail it on a second kill).
    lockDuration: config.worker.lock_duration_ms,
    stalledInterval: config.worker.stalled_interval_ms,
    maxStalledCount: config.worker.max_stalled_count,
    settings: {
      backoffStrategy: (attemptsMade: number, type?: string) =>
        type === WEBHOOK_BACKOFF ? webhookBackoff(attemptsMade, cfg.backoff_ms, cfg.max_backoff_ms) : cfg.backoff_ms,
    },
  });
  worker.on('error', (e) => log.error({ err: e.message, queue: WEBHOOK_QUEUE }, 'worker error'));

  const enqueue = async (found: NonNullable<Awaited<ReturnType<typeof readJobView>>>) => {
    await webhooks.enqueueJobEvent('job.progress', found.view, callbackOf(found.job.data));
  };

  let lastSweep = 0;
  let ticking: Promise<void> | null = null;
  const tick = (sweep = Date.now() - lastSweep >= cfg.sweep_ms) => {
    ticking ??= (async () => {
      try {
        if (sweep) {
          lastSweep = Date.now();
          for (const q of hostQueues()) {
            const recovered = await webhooks.sweepEnded(q);
            if (recovered.length) log.warn({ queue: q.name, jobs: recovered }, 'wrote the webhooks of jobs that ended with none written');
          }
        }
        while ((await webhooks.drainOutbox()) > 0);
      } catch (e) {
        log.warn({ err: String(e) }, 'webhook outbox round failed');
      } finally {
        ticking = null;
      }
    })();
    return ticking;
  };
  // At start: what a killed worker left, at once.
  void tick(true);
  const timer = setInterval(() => void tick(), cfg.outbox_poll_ms);
  timer.unref();

  return {
    webhooks,
    worker,
    tick,
    enqueueJobEvent: (...a) => webhooks.enqueueJobEvent(...a),
    onJobEnded: async (q, job) => {
      if (!job?.finishedOn || !isPublicJob(job)) return; // will be retried: not an outcome yet
      await webhooks.recordJobEnd(q, String(job.id));
    },
    onProgress: async (q, job) => {
      if (!isPublicJob(job)) return;
      const endpoints = await webhooks.listEndpoints();
      const wanted = callbackWants(callbackOf(job.data), 'job.progress') || endpoints.some((e) => !e.disabled_at && e.events.includes('job.progress'));
      if (!wanted) return;
      const found = await readJobView(q, String(job.id));
      if (found && found.view.state === 'running') await enqueue(found);
    },
    close: async () => {
      clearInterval(timer);
      await ticking;
      await worker.close();
      await queue.close();
    },
  };
}
