/**
 * Cancelling jobs. A queued job (waiting, delayed, prioritized or paused) is moved to BullMQ's failed set
 * in one Lua script, so no worker can take it in between: it never runs. A running job is announced on a
 * pub/sub channel (and marked with a key, for a worker that starts it or picks it up after a stall);
 * the worker running it aborts its signal, which kills the remote process group, and fails it as
 * canceled. Either way the job ends failed with the error code CANCELED, which the job view shows as
 * the state `canceled`.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { encodeJobError, type JobError } from './job-errors.ts';
import { keys } from './jobs.ts';

/** The structured error of a canceled job. */
export function canceledError(by: string): JobError {
  return { code: 'CANCELED', message: `canceled by ${by}`, retryable: false };
}

// KEYS: job hash, wait, paused, prioritized, delayed, failed, events. ARGV: id, failedReason, now.
const CANCEL_QUEUED = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local removed = redis.call('LREM', KEYS[2], 0, ARGV[1])
if removed == 0 then removed = redis.call('LREM', KEYS[3], 0, ARGV[1]) end
if removed == 0 then removed = redis.call('ZREM', KEYS[4], ARGV[1]) end
if removed == 0 then removed = redis.call('ZREM', KEYS[5], ARGV[1]) end
if removed == 0 then return 0 end
redis.call('HSET', KEYS[1], 'failedReason', ARGV[2], 'finishedOn', ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[3], ARGV[1])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', 10000, '*', 'event', 'failed', 'jobId', ARGV[1], 'failedReason', ARGV[2], 'prev', 'waiting')
return 1`;

export type CancelOutcome = 'canceled' | 'not-queued' | 'missing';

/**
 * Moves a queued job straight to failed with a CANCELED error, atomically. `not-queued` when it is
 * already running or finished (then announce it with `announceCancel`).
 */
export async function cancelQueuedJob(redis: Redis, queue: Queue, id: string, by: string): Promise<CancelOutcome> {
  const k = queue.keys;
  const r = await redis.eval(
    CANCEL_QUEUED,
    7,
    queue.toKey(id),
    k.wait ?? '',
    k.paused ?? '',
    k.prioritized ?? '',
    k.delayed ?? '',
    k.failed ?? '',
    k.events ?? '',
    id,
    encodeJobError(canceledError(by)),
    String(Date.now()),
  );
  return r === 1 ? 'canceled' : r === 0 ? 'not-queued' : 'missing';
}

/**
 * Marks a job as to be canceled and tells every worker process. The mark is written first: a worker
 * that starts the job after the message went out still sees it.
 */
export async function announceCancel(redis: Redis, prefix: string, id: string, by: string, ttlSeconds: number): Promise<void> {
  // Kept while the job itself is (config.retention_seconds): a retry long after still sees it.
  await redis.set(keys.cancel(prefix, id), by, 'EX', ttlSeconds);
  await redis.publish(keys.cancelChannel(prefix), id);
}

/** Who asked to cancel the job, or null when nobody did. */
export async function cancelRequestedBy(redis: Redis, prefix: string, id: string): Promise<string | null> {
  return redis.get(keys.cancel(prefix, id));
}
