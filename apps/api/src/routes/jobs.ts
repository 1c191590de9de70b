/**
 * Jobs: read one, list them (newest first, from the host queues), and follow one as Server-Sent
 * Events until it ends.
 */
import {
  announceCancel,
  callbackOf,
  cancelQueuedJob,
  freeCreate,
  isTerminal,
  JOB_KINDS,
  JOB_STATES,
  type JobState,
  type JobView,
  keys,
  toJobView,
  WEBHOOK_QUEUE,
  Webhooks,
} from '@provisioner/contracts';
import type { Job, JobType, Queue } from 'bullmq';
import { type Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { AppEnv, Services } from '../context.ts';
import { ApiError, isRedisDown } from '../errors.ts';
import { callerOwner, jobVisible } from '../ops.ts';
import { validate } from '../validation.ts';
import { readView } from '../watch.ts';

/** BullMQ's lists holding jobs in each public state. */
const BULL_TYPES: Record<JobState, JobType[]> = {
  queued: ['waiting', 'delayed', 'prioritized', 'waiting-children', 'paused'],
  running: ['active'],
  succeeded: ['completed'],
  failed: ['failed'],
  canceled: ['failed'],
};
const ALL_TYPES = [...new Set(Object.values(BULL_TYPES).flat())];

// Strict: a misspelt filter is a 422 naming it, not every job.
export const JobsQuery = z.strictObject({
  state: z.enum(JOB_STATES).optional(),
  kind: z.enum(JOB_KINDS).optional(),
  region: z.string().max(63).optional(),
  vm_name: z.string().max(63).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});
export type JobsQuery = z.infer<typeof JobsQuery>;

/** Public jobs only: scheduled refreshes (ids not ours) are the workers' business. */
const PUBLIC_ID_RE = /^job_[a-f0-9]{32}$/;
const PAGE = 200;

function keep(job: Job, view: JobView, q: JobsQuery, owner: string | null): boolean {
  if (!PUBLIC_ID_RE.test(String(job.id))) return false;
  if (!jobVisible(owner, job)) return false;
  if (q.state !== undefined && view.state !== q.state) return false;
  if (q.kind !== undefined && view.kind !== q.kind) return false;
  if (q.vm_name !== undefined && view.target.vm_name !== q.vm_name) return false;
  return true;
}

/** The first `want` matching jobs of one BullMQ list, in its order (newest first). */
async function scanList(queue: Queue, type: JobType, q: JobsQuery, want: number, owner: string | null): Promise<JobView[]> {
  const out: JobView[] = [];
  for (let start = 0; out.length < want; start += PAGE) {
    const jobs = await queue.getJobs([type], start, start + PAGE - 1, false);
    for (const job of jobs) {
      if (!job) continue;
      const view = toJobView(job, type);
      if (keep(job, view, q, owner)) out.push(view);
    }
    if (jobs.length < PAGE) break;
  }
  return out;
}

function newestFirst(a: JobView, b: JobView): number {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Lists jobs newest first; an owner-bound caller (`owner`) sees only its owner's. */
export async function listJobs(s: Services, q: JobsQuery, owner: string | null = null) {
  const want = q.offset + q.limit + 1;
  const types = q.state ? BULL_TYPES[q.state] : ALL_TYPES;
  if (q.region !== undefined && !s.config.regions.some((r) => r.region_name === q.region)) {
    const known = s.config.regions.map((r) => r.region_name).join(', ');
    throw new ApiError('VALIDATION', `unknown region: region must be one of ${known}`, { details: [{ path: 'region', message: `must be one of ${known}` }] });
  }
  const queues = s.queues.all().filter((h) => q.region === undefined || h.region === q.region);
  const lists = await Promise.all(queues.flatMap((h) => types.map((t) => scanList(h.queue, t, q, want, owner))));
  // A job moving between lists while they are read may show up twice: once is enough.
  const byId = new Map<string, JobView>();
  for (const v of lists.flat()) if (!byId.has(v.id)) byId.set(v.id, v);
  const sorted = [...byId.values()].sort(newestFirst);
  const jobs = sorted.slice(q.offset, q.offset + q.limit);
  return { jobs, limit: q.limit, offset: q.offset, next_offset: sorted.length > q.offset + q.limit ? q.offset + q.limit : null };
}

async function findOr404(s: Services, id: string, owner: string | null) {
  const found = await s.queues.find(id);
  if (!found || !jobVisible(owner, found.job)) throw new ApiError('NOT_FOUND', 'job not found');
  return found;
}

/**
 * Cancels a job: a queued one is failed as canceled at once (it never runs) and its VM's next operation
 * may go; a running one is announced to every worker, whose abort kills the remote command and undoes
 * the partial work. 409 when the job has already ended.
 */
async function cancelJob(s: Services, c: Context<AppEnv>): Promise<Response> {
  const { job, queue, state } = await findOr404(s, c.req.param('id') ?? '', callerOwner(c));
  const id = String(job.id);
  const before = toJobView(job, state);
  if (isTerminal(before.state)) throw new ApiError('CONFLICT', `the job has already ended (${before.state})`, { jobId: id });
  const by = `token '${c.get('caller')?.name ?? 'anonymous'}'`;
  const prefix = s.config.queue_prefix;
  const data = job.data as { kind?: string; region?: string; vm_name?: string; host?: string };
  // A create that already ran (it waits for a retry, or was handed back after a stall) may have left a
  // disk or seed on the host: a worker must cancel it, which also cleans up. Everything else queued is
  // canceled here and never reaches a worker.
  const mayHaveWork = data.kind === 'create' && (job.attemptsMade > 0 || (job.attemptsStarted ?? 0) > 0);
  const outcome = mayHaveWork ? 'not-queued' : await cancelQueuedJob(s.redis, queue, id, by);
  if (outcome === 'canceled') {
    if (data.region && data.vm_name) {
      // It never ran: its VM's next operation may start, and a create's reserved name is free again.
      if (data.kind === 'create') {
        if (data.host) await freeCreate(s.redis, prefix, data.region, data.host, data.vm_name);
      }
      await endTurn(s, queue, data.region, data.vm_name, id);
    }
  } else {
    await announceCancel(s.redis, prefix, id, by, s.config.retention_seconds);
    // Waiting for its retry: let a worker take it now (it sees the mark, cleans up and ends it canceled).
    if (state === 'delayed') await job.promote().catch(() => undefined);
  }
  const view = await readView(queue, id);
  if (!view) throw new ApiError('NOT_FOUND', 'job not found');
  if (outcome === 'canceled' && view.state === 'canceled') {
    // No worker saw it end: its job.canceled webhooks are queued here (a running job's by the worker).
    await new Webhooks(s.redis, s.config, s.queues.get(WEBHOOK_QUEUE))
      .enqueueJobEvent('job.canceled', view, callbackOf(job.data))
      .catch((e: unknown) => c.get('logger').warn({ err: String(e), job_id: id }, 'queuing job.canceled webhooks failed'));
  }
  if (outcome !== 'canceled' && isTerminal(view.state) && view.state !== 'canceled') {
    throw new ApiError('CONFLICT', `the job has already ended (${view.state})`, { jobId: id });
  }
  c.header('Location', `/v1/jobs/${id}`);
  return c.json(view, view.state === 'canceled' ? 200 : 202);
}

/** Same as the worker's turn end: drop the job from its VM's line and wake the next one if it waits delayed. */
async function endTurn(s: Services, queue: Queue, region: string, vm: string, id: string): Promise<void> {
  const key = keys.vmOps(s.config.queue_prefix, region, vm);
  await s.redis.zrem(key, id);
  const [next] = await s.redis.zrange(key, 0, 0);
  const nextJob = next ? await queue.getJob(next) : undefined;
  if (nextJob && (await nextJob.isDelayed())) await nextJob.promote().catch(() => undefined);
}

/** Comment lines keep idle proxies from closing a stream of a job that waits a long time. */
const HEARTBEAT_MS = 15_000;

export function jobRoutes(s: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/v1/jobs', async (c) => c.json(await listJobs(s, validate(JobsQuery, c.req.query()), callerOwner(c))));

  r.get('/v1/jobs/:id', async (c) => {
    const { job, queue } = await findOr404(s, c.req.param('id'), callerOwner(c));
    const view = await readView(queue, String(job.id));
    if (!view) throw new ApiError('NOT_FOUND', 'job not found');
    return c.json(view);
  });

  r.post('/v1/jobs/:id/cancel', (c) => cancelJob(s, c));

  r.get('/v1/jobs/:id/events', async (c) => {
    const { job, queue } = await findOr404(s, c.req.param('id'), callerOwner(c));
    const log = c.get('logger');
    const requestId = c.get('requestId');
    return streamSSE(c, async (stream) => {
      const ac = new AbortController();
      stream.onAbort(() => ac.abort());
      const heartbeat = setInterval(() => void stream.write(': keep-alive\n\n'), HEARTBEAT_MS);
      let seq = 0;
      try {
        await s.watcher.watch(queue, String(job.id), (event, view) => stream.writeSSE({ event, id: String(seq++), data: JSON.stringify(view) }), ac.signal);
      } catch (e) {
        // The status line is long gone: say it in the stream, without internals.
        const code = isRedisDown(e) ? 'UNAVAILABLE' : 'INTERNAL';
        if (code === 'INTERNAL') log.error({ err: (e as Error).message, request_id: requestId }, 'job event stream failed');
        await stream.writeSSE({
          event: 'error',
          data: JSON.stringify({ code, message: 'the event stream was interrupted; read the job again', request_id: requestId }),
        });
      } finally {
        clearInterval(heartbeat);
      }
    });
  });

  return r;
}
