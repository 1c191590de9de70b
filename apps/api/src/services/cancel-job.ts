/** Cancels a job, queued or running. */
import { callbackOf, isTerminal, isWaitingReady, type JobView, toJobView } from '@provisioner/contracts';
import { endOutcome } from '@provisioner/store';
import type { Logger } from 'pino';
import type { Services } from '../context.ts';
import { ApiError, jobNotFound } from '../errors.ts';
import { readView } from '../watch.ts';
import { findOr404 } from './find-job.ts';

export interface CancelRequest {
  id: string;
  /** The caller's owner binding (null: none): another owner's job is 404. */
  owner: string | null;
  /** Who asks, as the job's error says it (`token 'name'`). */
  by: string;
  log: Logger;
}

/** The job after the cancel: `canceled` when it was queued and ended at once, `underway` while a worker stops it. */
export interface CancelAnswer {
  view: JobView;
  outcome: 'canceled' | 'underway';
}

/**
 * Cancels a job: a queued one is failed as canceled at once (it never runs) and its end settled (what it
 * held is given back, its VM's next operation may go); a running one is announced to every worker, whose
 * abort kills the remote command and undoes the partial work. CONFLICT when the job has already ended.
 */
export async function cancelJob(s: Services, r: CancelRequest): Promise<CancelAnswer> {
  const { job, queue, state } = await findOr404(s, r.id, r.owner);
  const id = String(job.id);
  const before = toJobView(job, state);
  if (isTerminal(before.state)) throw new ApiError('CONFLICT', `job ${id} has already ended (${before.state})`, { jobId: id });
  const data = job.data as { kind?: string };
  // A create that already ran (it waits for a retry, or was handed back after a stall) may have left a
  // disk or seed on the host: a worker must cancel it, which also cleans up. Everything else queued is
  // canceled here and never reaches a worker.
  // A create whose VM runs and which waits for its guest between looks is canceled here too: it keeps its VM.
  const mayHaveWork = !isWaitingReady(job.data) && data.kind === 'create' && (job.attemptsMade > 0 || (job.attemptsStarted ?? 0) > 0);
  const outcome = mayHaveWork ? 'not-queued' : await s.queues.cancelQueued(queue, id, r.by);
  if (outcome === 'canceled') {
    // It never ran: a create's name is free again (unless its VM exists), a resize's extra room is given
    // back, and its VM's next operation may start.
    await s.ledger.settle(queue, job, endOutcome(job));
  } else {
    await s.queues.announceCancel(id, r.by);
    // Waiting for its retry: let a worker take it now (it sees the mark, cleans up and ends it canceled).
    if (state === 'delayed') await job.promote().catch(() => undefined);
  }
  const view = await readView(queue, id);
  if (!view) throw jobNotFound(id);
  if (outcome === 'canceled' && view.state === 'canceled') {
    // No worker saw it end: its job.canceled webhooks are queued here (a running job's by the worker).
    await s.webhooks
      .enqueueJobEvent('job.canceled', view, callbackOf(job.data))
      .catch((e: unknown) => r.log.warn({ err: String(e), job_id: id }, 'queuing job.canceled webhooks failed'));
  }
  if (outcome !== 'canceled' && isTerminal(view.state) && view.state !== 'canceled') {
    throw new ApiError('CONFLICT', `job ${id} has already ended (${view.state})`, { jobId: id });
  }
  return { view, outcome: view.state === 'canceled' ? 'canceled' : 'underway' };
}
