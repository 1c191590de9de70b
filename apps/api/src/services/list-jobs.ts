/** Lists jobs newest first from the host queues (BullMQ's lists), filtered, paged by offset. */
import { isJobId, type JobState, type JobView, toJobView } from '@provisioner/contracts';
import type { JobListQuery } from '@provisioner/contracts/api';
import type { Job, JobType, Queue } from 'bullmq';
import { jobVisible } from '../caller.ts';
import type { Services } from '../context.ts';
import { ApiError } from '../errors.ts';

/** BullMQ's lists holding jobs in each public state. */
const BULL_TYPES: Record<JobState, JobType[]> = {
  queued: ['waiting', 'delayed', 'prioritized', 'waiting-children', 'paused'],
  // A create waiting for its guest sits delayed (or waiting) between its looks: the view says running.
  running: ['active', 'delayed', 'waiting'],
  succeeded: ['completed'],
  failed: ['failed'],
  canceled: ['failed'],
};
const ALL_TYPES = [...new Set(Object.values(BULL_TYPES).flat())];

type JobsQuery = JobListQuery;

const PAGE = 200;

function keep(job: Job, view: JobView, q: JobsQuery, owner: string | null): boolean {
  // Public jobs only: scheduled refreshes (ids not ours) are the workers' business.
  if (!isJobId(String(job.id))) return false;
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
