/**
 * A job is answered as accepted only once the Redis master's replica holds it (Sentinel; JobQueue.confirmStored):
 * a failover promotes the replica and loses whatever the old master took that the replica never saw.
 */
import type { Job } from 'bullmq';
import type { Context } from 'hono';
import type { AppEnv, Services } from '../context.ts';
import { ApiError, isRedisDown } from '../errors.ts';

/**
 * Returns once `job` is safe from a failover. When the replica does not confirm it, the master may just have
 * lost its role: the job is looked for on the master that takes writes now (JobQueue.findOnMaster; with
 * `min-replicas-to-write`, a master that lost its replica refuses that write). There, either it is and its
 * replica confirms it (accepted), or it is not, and what its submission left (the VM's place in line, a
 * create's name and room, the job's record, the Idempotency-Key) is removed and the request fails with 503,
 * which is then true: nothing was queued.
 */
export async function confirmSubmitted(s: Services, c: Context<AppEnv>, job: Job, record: () => Promise<void>): Promise<void> {
  // The job was queued: from here a Redis error (a failover cutting the connection off) means "not confirmed
  // yet", never "not queued"; `record` writes the answer for an Idempotency-Key (again, when it failed).
  const confirmed = await record()
    .then(() => s.queues.confirmStored())
    .catch((e: unknown) => {
      if (!isRedisDown(e)) throw e;
      return false;
    });
  if (confirmed) return;
  const id = String(job.id);
  if (await s.queues.findOnMaster(id)) {
    await record();
    if (await s.queues.confirmStored()) return;
    // Found, but still not on a replica (a replica too slow, or a failed-over master that goes on taking
    // writes because it runs without min-replicas-to-write): whether it runs cannot be told yet.
    throw new ApiError(
      'UNAVAILABLE',
      'the job store (Redis) could not confirm the job on its replica; it may still run: send the request again with the same Idempotency-Key to learn its outcome',
      { jobId: id, headers: { 'Retry-After': '1' } },
    );
  }
  // Given back as a job canceled before it ran gives it back (a create's name too), then its record.
  await s.ledger.settle(s.queues.get(job.queueName), job, 'undone');
  await s.queues.forget(id);
  c.get('idempotency')?.withdrawn();
  c.get('logger').warn({ job_id: id, request_id: c.get('requestId') }, 'a job was lost in a Redis failover before it was answered; answering 503');
  throw new ApiError(
    'UNAVAILABLE',
    'the job store (Redis) failed over while the job was stored and did not keep it: nothing was queued, send the request again',
    {
      headers: { 'Retry-After': '1' },
    },
  );
}
