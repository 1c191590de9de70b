/**
 * Cancelling jobs (the store's JobQueue does it). A queued job (waiting, delayed, prioritized or paused)
 * is moved to BullMQ's failed set in one Lua script, so no worker can take it in between: it never runs.
 * A running job is announced on a pub/sub channel (and marked with a key, for a worker that starts it or
 * picks it up after a stall); the worker running it aborts its signal, which kills the remote process
 * group, and fails it as canceled. Either way the job ends failed with the error code CANCELED, which the
 * job view shows as the state `canceled`.
 */
import type { JobError } from './job-errors.ts';

/** The structured error of a canceled job. */
export function canceledError(by: string): JobError {
  return { code: 'CANCELED', message: `canceled by ${by}`, retryable: false };
}
