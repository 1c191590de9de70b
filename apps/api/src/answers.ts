/**
 * How a submitted job is answered: 202 with the job to follow (the new routes), or, for the legacy
 * routes, its outcome waited for.
 */
import { isTerminal, toJobView } from '@provisioner/contracts';
import type { Job } from 'bullmq';
import type { Context } from 'hono';
import type { AppEnv, Services } from './context.ts';
import { ApiError, jobFailure } from './errors.ts';

export function jobLocation(id: string): string {
  return `/v1/jobs/${id}`;
}

/** 202 Accepted with the job view, where to follow it and when to look (recorded for an Idempotency-Key). */
export async function accepted(c: Context<AppEnv>, job: Job): Promise<Response> {
  const view = toJobView(job, 'waiting');
  await c.get('idempotency')?.answered(job, 202, view, jobLocation(view.id));
  c.header('Location', jobLocation(view.id));
  c.header('Retry-After', '1');
  return c.json(view, 202);
}

/**
 * The legacy answer: waits for the job, then `200 {"message":"Success"}`, the job's failure as an
 * error status, or 504 with the job's link when it has not finished in time (the job goes on).
 */
export async function awaitOutcome(s: Services, c: Context<AppEnv>, job: Job, ms: number): Promise<Response> {
  const id = String(job.id);
  await c.get('idempotency')?.submitted(job, ms);
  const location = jobLocation(id);
  const view = await s.watcher.waitFor(s.queues.get(job.queueName), id, ms);
  if (view?.state === 'succeeded') return c.json({ message: 'Success' }, 200);
  if (!view) throw new ApiError('JOB_FAILED', 'the job was removed before it finished', { jobId: id });
  if (isTerminal(view.state)) throw jobFailure(id, view.error, location);
  throw new ApiError('TIMEOUT', `the operation did not finish within ${Math.round(ms / 1000)} s; it goes on, follow ${location}`, {
    jobId: id,
    details: { state: view.state, step: view.step, links: view.links },
    headers: { Location: location },
  });
}
