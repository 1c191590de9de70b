/** Cancels a job, queued or running. */
import { callbackOf, isTerminal, isWaitingReady, toJobView } from '@provisioner/contracts';
import type { Context } from 'hono';
import { callerOwner } from '../caller.ts';
import type { AppEnv, Services } from '../context.ts';
import { ApiError, jobNotFound } from '../errors.ts';
import { readView } from '../watch.ts';
import { findOr404 } from './find-job.ts';

/**
 * Cancels a job: a queued one is failed as canceled at once (it never runs) and its VM's next operation
 * may go; a running one is announced to every worker, whose abort kills the remote command and undoes
 * the partial work. 409 when the job has already ended.
 */
export async function cancelJob(s: Services, c: Context<AppEnv>, jobId: string): Promise<Response> {
  const { job, queue, state } = await findOr404(s, jobId, callerOwner(c));
  const id = String(job.id);
  const before = toJobView(job, state);
  if (isTerminal(before.state)) throw new ApiError('CONFLICT', `job ${id} has already ended (${before.state})`, { jobId: id });
  const by = `token '${c.get('caller')?.name ?? 'anonymous'}'`;
  const data = job.data as { kind?: string; region?: string; vm_name?: string; host?: string };
  // A create that already ran (it waits for a retry, or was handed back after a stall) may have left a
  // disk or seed on the host: a worker must cancel it, which also cleans up. Everything else queued is
  // canceled here and never reaches a worker.
  // A create whose VM runs and which waits for its guest between looks is canceled here too: it keeps its VM.
  const madeVm = isWaitingReady(job.data);
  const mayHaveWork = !madeVm && data.kind === 'create' && (job.attemptsMade > 0 || (job.attemptsStarted ?? 0) > 0);
  const outcome = mayHaveWork ? 'not-queued' : await s.queues.cancelQueued(queue, id, by);
  if (outcome === 'canceled') {
    if (data.region && data.vm_name) {
      // It never ran: its VM's next operation may start, and a create's reserved name is free again
      // (unless its VM exists: then the name stays taken and only the pending count goes).
      if (data.kind === 'create' && data.host) {
        if (madeVm) await s.ledger.release(data.region, data.host, data.vm_name);
        else await s.ledger.free(data.region, data.host, data.vm_name);
      }
      // A resize that never ran gives back the extra room it reserved on the VM's host.
      if (data.kind === 'resize' && data.host) await s.ledger.releaseResize(data.region, data.host, data.vm_name);
      await s.ledger.endTurn(queue, data.region, data.vm_name, id);
    }
  } else {
    await s.queues.announceCancel(id, by);
    // Waiting for its retry: let a worker take it now (it sees the mark, cleans up and ends it canceled).
    if (state === 'delayed') await job.promote().catch(() => undefined);
  }
  const view = await readView(queue, id);
  if (!view) throw jobNotFound(id);
  if (outcome === 'canceled' && view.state === 'canceled') {
    // No worker saw it end: its job.canceled webhooks are queued here (a running job's by the worker).
    await s.webhooks
      .enqueueJobEvent('job.canceled', view, callbackOf(job.data))
      .catch((e: unknown) => c.get('logger').warn({ err: String(e), job_id: id }, 'queuing job.canceled webhooks failed'));
  }
  if (outcome !== 'canceled' && isTerminal(view.state) && view.state !== 'canceled') {
    throw new ApiError('CONFLICT', `job ${id} has already ended (${view.state})`, { jobId: id });
  }
  c.header('Location', `/v1/jobs/${id}`);
  return c.json(view, view.state === 'canceled' ? 200 : 202);
}
