/**
 * The one reader of a job as GET /v1/jobs/{id} shows it: the API's routes and watchers and the
 * worker's webhook sender all read it here, so a webhook's `data` is what GET answers.
 */
import { type JobView, toJobView } from '@provisioner/contracts';
import type { Job, Queue } from 'bullmq';

/**
 * The job and its view, or null when the queue has no such job. The state is read before the job: a
 * job read first and then found `failed` would show the state without its error. Read this way, the
 * data is never older than the state.
 */
export async function readJobView(queue: Queue, id: string): Promise<{ job: Job; view: JobView } | null> {
  const state = await queue.getJobState(id);
  const job = await queue.getJob(id);
  return job ? { job, view: toJobView(job, state) } : null;
}
