/**
 * Cancellation reaching running jobs: every worker process subscribes to the cancel channel, and a job
 * id announced there aborts that job's signal in whichever of its Workers runs it (BullMQ's
 * `cancelJob`). The processor passes the signal to every SSH command, whose process group on the host
 * is then killed.
 */
import { duplicateRedis, keys } from '@provisioner/contracts';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export async function listenForCancels(redis: Redis, prefix: string, workers: readonly Worker[], log: Logger): Promise<() => Promise<void>> {
  const sub = duplicateRedis(redis, { maxRetriesPerRequest: null });
  sub.on('error', (e) => log.warn({ err: e.message }, 'cancel subscription error'));
  const channel = keys.cancelChannel(prefix);
  sub.on('message', (ch: string, id: string) => {
    if (ch !== channel) return;
    for (const w of workers) if (w.cancelJob(id, 'canceled')) log.info({ job_id: id }, 'cancel requested: aborting the running job');
  });
  await sub.subscribe(channel);
  return async () => {
    await sub.quit().catch(() => sub.disconnect());
  };
}
