import { decodeJobError } from './job-errors.ts';
import { isWaitingReady, type JobKind, type JobState, type JobView, type ProgressData, stepsOf } from './jobs.ts';

/** What the view reads of a BullMQ job (a `Job` fits): contracts describes it without depending on BullMQ. */
export interface JobRecord {
  id?: string;
  data: unknown;
  progress: unknown;
  failedReason?: string;
  attemptsMade: number;
  timestamp: number;
  processedOn?: number;
  finishedOn?: number;
  returnvalue?: unknown;
}

function iso(ms: number | undefined | null): string | null {
  return ms ? new Date(ms).toISOString() : null;
}

/**
 * Maps BullMQ's state names onto the job contract's. A create waiting for its guest sits in BullMQ's
 * delayed set between its looks (it holds no host slot then) but is `running` to clients.
 */
export function jobState(bullState: string, failedReason?: string, data?: unknown): JobState {
  switch (bullState) {
    case 'active':
      return 'running';
    case 'completed':
      return 'succeeded';
    case 'failed':
      return decodeJobError(failedReason)?.code === 'CANCELED' ? 'canceled' : 'failed';
    default:
      return isWaitingReady(data) ? 'running' : 'queued';
  }
}

/** The job as clients see it. Never includes job data (user-data ciphertext, tokens) or stack traces. */
export function toJobView(job: JobRecord, bullState: string, base = ''): JobView {
  const data = job.data as { kind: JobKind; region: string; vm_name?: string; host: string; request_id?: string; wait_until?: string };
  const progress = (typeof job.progress === 'object' ? job.progress : null) as ProgressData | null;
  const state = jobState(bullState, job.failedReason, job.data);
  const finished = state === 'succeeded' || state === 'failed' || state === 'canceled' ? iso(job.finishedOn) : null;
  const recorded = progress?.steps ?? stepsOf(data).map((name) => ({ name, state: 'pending' as const, started_at: null, finished_at: null }));
  // A job that ended has no running step: the one it was in when it failed or was canceled (a canceled wait
  // for the guest is ended from outside, so nothing else closes it) ended with it.
  const steps = finished ? recorded.map((s) => (s.state === 'running' ? { ...s, state: 'failed' as const, finished_at: finished } : s)) : recorded;
  // A create waiting for its guest is picked up again for each look (BullMQ's processedOn moves): it started
  // when its first step did.
  const started = isWaitingReady(job.data) ? (recorded.find((s) => s.started_at)?.started_at ?? null) : null;
  const id = String(job.id);
  return {
    id,
    kind: data.kind,
    target: { region: data.region, vm_name: data.vm_name ?? null, host: data.host },
    state,
    progress: state === 'succeeded' ? 100 : (progress?.percent ?? 0),
    step: state === 'succeeded' ? null : (progress?.step ?? null),
    steps,
    attempts: job.attemptsMade,
    created_at: iso(job.timestamp) ?? new Date(0).toISOString(),
    started_at: started ?? iso(job.processedOn),
    finished_at: finished,
    error: state === 'failed' || state === 'canceled' ? decodeJobError(job.failedReason) : null,
    result: state === 'succeeded' ? (job.returnvalue ?? null) : null,
    request_id: data.request_id ?? null,
    links: { self: `${base}/v1/jobs/${id}`, events: `${base}/v1/jobs/${id}/events`, cancel: `${base}/v1/jobs/${id}/cancel` },
  };
}

export function isTerminal(state: JobState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'canceled';
}
