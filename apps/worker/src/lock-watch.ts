/**
 * A worker cut off from Redis cannot renew its jobs' locks: once a lock expires, another worker's stall
 * check hands the job to someone else, while this worker's remote command (virsh, qemu-img, curl) may still
 * run. So each running job's lock renewals are watched, and a job whose lock has not been renewed for
 * `abortAfterMs(lockDuration)` is aborted (its AbortSignal, with LOCK_LOST as the reason) before the lock
 * can expire: the SSH layer kills the command's process group on the host, as it does for a cancel. The
 * processor then hands the job back (processor.ts) instead of failing it or cleaning up. The host's VM
 * lock (libvirt's sh/vm-lock.sh) covers what this cannot: a worker whose whole process froze.
 */
import type { Job, Worker } from 'bullmq';
import type { Logger } from 'pino';

/** The abort reason of a job whose lock this worker could not renew in time. */
export const LOCK_LOST = 'lock-lost';

/** Whether a job's signal was aborted because its lock could not be renewed (not a cancel). */
export function lockLost(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason === LOCK_LOST;
}

/**
 * How long after the last renewal (or the job's start) a job is aborted. BullMQ renews every lockDuration/4
 * to lockDuration/2, so a healthy worker never comes near; the margin left before the lock expires
 * (a third of it, at most 10 s) is for killing the remote process group (TERM, then KILL after 2 s).
 */
export function abortAfterMs(lockDurationMs: number): number {
  return lockDurationMs - Math.min(Math.floor(lockDurationMs / 3), 10_000);
}

export interface LockWatch {
  /** Jobs watched now (for tests and metrics). */
  readonly watched: number;
  stop(): void;
}

/** Watches `worker`'s running jobs' lock renewals and aborts those whose lock would expire (see above). */
export function watchLocks(worker: Worker, lockDurationMs: number, log: Logger, now: () => number = Date.now): LockWatch {
  const limit = abortAfterMs(lockDurationMs);
  const renewed = new Map<string, number>();
  const started = (job: Job) => {
    if (job.id) renewed.set(job.id, now());
  };
  const onRenewed = ({ jobIds }: { jobIds: string[] }) => {
    for (const id of jobIds) if (renewed.has(id)) renewed.set(id, now());
  };
  // Redis answered that the lock is no longer this worker's: another may run the job already.
  const onRenewalFailed = (jobIds: string[]) => {
    for (const id of jobIds) abort(id, 'its lock was taken');
  };
  const ended = (job: Job | undefined) => {
    if (job?.id) renewed.delete(job.id);
  };
  const abort = (id: string, why: string) => {
    renewed.delete(id);
    if (worker.cancelJob(id, LOCK_LOST)) log.warn({ job_id: id, why }, 'job lock not renewed: stopping its host command and handing the job back');
  };
  worker.on('active', started);
  worker.on('locksRenewed', onRenewed);
  worker.on('lockRenewalFailed', onRenewalFailed);
  worker.on('completed', ended);
  worker.on('failed', ended);
  const timer = setInterval(
    () => {
      const t = now();
      for (const [id, at] of renewed) {
        if (t - at < limit) continue;
        // Not running here any more (ended while Redis was away, or moved to delayed): nothing to stop.
        if (!worker.cancelJob(id, LOCK_LOST)) {
          renewed.delete(id);
          continue;
        }
        renewed.delete(id);
        log.warn(
          { job_id: id, since_ms: t - at, lock_duration_ms: lockDurationMs },
          'job lock not renewed: stopping its host command and handing the job back',
        );
      }
    },
    Math.max(50, Math.min(1000, Math.floor(lockDurationMs / 20))),
  );
  timer.unref();
  return {
    get watched() {
      return renewed.size;
    },
    stop: () => {
      clearInterval(timer);
      worker.off('active', started);
      worker.off('locksRenewed', onRenewed);
      worker.off('lockRenewalFailed', onRenewalFailed);
      worker.off('completed', ended);
      worker.off('failed', ended);
    },
  };
}
