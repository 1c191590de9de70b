/**
 * Cancellation reaching running jobs: every worker process subscribes to the cancel channel, and a job
 * id announced there aborts that job's signal in whichever of its Workers runs it (BullMQ's
 * `cancelJob`). The processor passes the signal to every SSH command, whose process group on the host
 * is then killed.
 */
import type { JobQueue } from '@provisioner/store';
import type { Worker } from 'bullmq';
import type { Logger } from 'pino';

export function listenForCancels(jobs: JobQueue, workers: readonly Worker[], log: Logger): Promise<() => Promise<void>> {
  return jobs.onCancel(
    (id) => {
      for (const w of workers) if (w.cancelJob(id, 'canceled')) log.info({ job_id: id }, 'cancel requested: aborting the running job');
    },
    (e) => log.warn({ err: e.message }, 'cancel subscription error'),
  );
}
