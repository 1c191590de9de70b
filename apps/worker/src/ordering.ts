/**
 * Per-VM ordering across any number of worker processes: every operation on a VM was given a seq at
 * submission and sits in the VM's ZSET; only the lowest may run. Others wait as delayed jobs and are
 * promoted when the one before them ends.
 */
import { keys } from '@provisioner/contracts';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export async function isMyTurn(redis: Redis, prefix: string, queue: Queue, region: string, vm: string, jobId: string): Promise<boolean> {
  const key = keys.vmOps(prefix, region, vm);
  for (let i = 0; i < 100; i++) {
    const [first] = await redis.zrange(key, 0, 0);
    if (first === undefined || first === jobId) return true;
    // An operation removed without finishing (e.g. by an operator) must not block the VM forever.
    const head = await queue.getJob(first);
    const state = head ? await head.getState() : 'unknown';
    if (!head || state === 'completed' || state === 'failed' || state === 'unknown') {
      await redis.zrem(key, first);
      continue;
    }
    return false;
  }
  return false;
}

/** Ends this job's turn and promotes the VM's next operation if it is waiting as delayed. */
export async function endTurn(redis: Redis, prefix: string, queue: Queue, region: string, vm: string, jobId: string): Promise<void> {
  const key = keys.vmOps(prefix, region, vm);
  await redis.zrem(key, jobId);
  const [next] = await redis.zrange(key, 0, 0);
  if (!next) return;
  const job: Job | undefined = await queue.getJob(next);
  if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
}
