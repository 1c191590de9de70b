/**
 * How jobs are queued, as data: a new job's shape and how long BullMQ keeps it (the store's JobQueue
 * submits and finds them).
 */
import type { Config } from './config/schema.ts';
import type { JobPayload } from './jobs.ts';

type Retention = Pick<Config, 'retention_seconds' | 'retention_max_jobs'>;

/**
 * How BullMQ keeps a finished job: `retention_seconds` after it ends (then it is removed, user-data
 * included), at most `retention_max_jobs` per queue and outcome. BullMQ applies these to the whole queue
 * each time a job ends, so every job of a queue that holds jobs users read must be added with them
 * (scheduled jobs are removed at once instead: see the worker's schedulers).
 */
export function keepFinished(c: Retention): { removeOnComplete: { age: number; count: number }; removeOnFail: { age: number; count: number } } {
  const keep = { age: c.retention_seconds, count: c.retention_max_jobs };
  return { removeOnComplete: keep, removeOnFail: keep };
}

/** TTL of the records kept beside a job (its queue, its deliveries): an hour past the job itself. */
export function recordTtl(c: Retention): number {
  return c.retention_seconds + 3600;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A payload as the API builds it: the seq is assigned at submission, user-data given in plain text. */
export type NewJob = DistributiveOmit<JobPayload, 'seq' | 'user_data_enc'> & { user_data?: string | null };
