/**
 * The jobs in Redis: one BullMQ Queue per host queue name (sharing one connection), submitting a job with
 * its records beside it, finding one by its public id, and cancelling: a queued job is failed at once by
 * a script (it never runs), a running one is marked and announced to every worker process. The one place
 * that knows how a job is laid out in Redis, so the API, the worker and the tests can never disagree.
 */
import { randomUUID } from 'node:crypto';
import {
  type Config,
  canceledError,
  encodeJobError,
  encryptUserData,
  hostQueueName,
  isHostJob,
  isJobId,
  type JobPayload,
  keepFinished,
  type NewJob,
  recordTtl,
} from '@provisioner/contracts';
import { type Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { duplicateRedis } from './redis.ts';
import { runScript } from './scripts.ts';
import { VmLedger } from './vm-ledger.ts';

/**
 * Jobs that answer the one request that queued them and are no history of the service: removed as soon as
 * they end, so they never count against `retention_max_jobs` (BullMQ trims a queue's whole finished set to
 * the count a job ends with: kept, a listing polled with `refresh=true` would push the operations that
 * change VMs out of their retention). A console read however it ends: its text, or why it failed, goes to
 * the request waiting for it (ConsoleStore), so failed reads (a host down, asked every few seconds by a page)
 * never push an operation's failure out of the failed set. A refresh (`?refresh=true`, the legacy list and delete) however it
 * ends: its outcome is the host's inventory entry, which the listing that asked for it shows (`hosts[]`:
 * `observed_at`, `error`), as for the workers' scheduled refreshes.
 */
function removedWhenEnded(kind: JobPayload['kind']): { removeOnComplete?: true; removeOnFail?: true } {
  if (kind === 'refresh' || kind === 'console') return { removeOnComplete: true, removeOnFail: true };
  return {};
}

export type CancelOutcome = 'canceled' | 'not-queued' | 'missing';

/**
 * A submission made with `expectSeq` (a write built from a read of the VM) found that another operation
 * on the VM was queued since that read: nothing was queued. `current` is the VM's seq now.
 */
export class SeqMismatchError extends Error {
  override readonly name = 'SeqMismatchError';
  constructor(readonly current: number) {
    super(`another operation on the VM was queued since it was read (its seq is now ${current})`);
  }
}

export class JobQueue {
  private readonly queues = new Map<string, Queue>();
  private readonly submitted: Array<(kind: JobPayload['kind']) => void> = [];
  /** The VMs' lines, which a submitted operation enters (VmLedger owns them). */
  private readonly ledger: VmLedger;
  constructor(
    readonly redis: Redis,
    readonly config: Config,
  ) {
    this.ledger = new VmLedger(redis, config.queue_prefix);
  }

  get prefix(): string {
    return this.config.queue_prefix;
  }

  get(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.redis, prefix: this.prefix });
      q.on('error', () => undefined); // connection errors surface on the shared client
      this.queues.set(name, q);
    }
    return q;
  }

  /** Calls `fn` after each job is queued (the API counts submissions for its metrics). */
  onSubmit(fn: (kind: JobPayload['kind']) => void): void {
    this.submitted.push(fn);
  }

  /** Every host queue the configuration defines. */
  all(): Array<{ region: string; host: string; queue: Queue }> {
    return this.config.regions.flatMap((r) =>
      r.hosts.map((h) => ({ region: r.region_name, host: h.name, queue: this.get(hostQueueName(r.region_name, h.name)) })),
    );
  }

  /**
   * Submits a job: assigns it the next place among its VM's operations, encrypts user-data, records
   * which queue holds it. Returns the BullMQ job (its id is the public job id).
   *
   * `expectSeq`: the VM's seq (VmLedger.seq) the write was built from; when another operation on the VM
   * was queued since, nothing is queued and SeqMismatchError is thrown (checked in the same script that
   * gives the seq, so two writers holding the same read cannot both pass).
   */
  async submit(p: NewJob, o: { expectSeq?: number } = {}): Promise<Job> {
    const id = `job_${randomUUID().replaceAll('-', '')}`;
    const queueName = hostQueueName(p.region, p.host);
    const { attempts, backoff_ms } = this.config.worker;
    const hostJob = isHostJob(p);
    // The job's queue record and, for an operation on a VM, its seq and place in the VM's line: one round trip.
    const record = { key: keys.jobQueue(this.prefix, id), queue: queueName, ttlSeconds: recordTtl(this.config) };
    let seq = 0;
    if (hostJob) {
      await this.redis.set(record.key, record.queue, 'EX', record.ttlSeconds);
    } else {
      const entered = await this.ledger.enter({ region: p.region, vm: p.vm_name }, id, record, o.expectSeq);
      if (!entered.ok) throw new SeqMismatchError(entered.current);
      seq = entered.seq;
    }
    let data: JobPayload;
    if (hostJob) {
      data = p;
    } else {
      const { user_data, ...rest } = p as NewJob & { vm_name: string; user_data?: string | null };
      data = { ...rest, seq } as JobPayload;
      if (p.kind === 'create' || p.kind === 'rebuild') {
        (data as Extract<JobPayload, { kind: 'create' | 'rebuild' }>).user_data_enc = user_data
          ? encryptUserData(user_data, this.config.user_data_key, id)
          : null;
      }
    }
    const job = await this.get(queueName).add(p.kind, data, {
      jobId: id,
      attempts: hostJob ? 1 : attempts,
      backoff: { type: 'exponential', delay: backoff_ms, jitter: 0.5 },
      ...keepFinished(this.config),
      ...removedWhenEnded(p.kind),
    });
    for (const fn of this.submitted) fn(p.kind);
    return job;
  }

  /**
   * After a job ended (the worker's `completed` or `failed` event): a job removed with its end
   * (removedWhenEnded) takes the record of its queue along, which would otherwise stay for
   * `retention_seconds` (one per host for each listing polled with `refresh=true`) pointing at nothing.
   */
  async forgetIfRemoved(job: Job, succeeded: boolean): Promise<void> {
    if (!job.finishedOn || !isJobId(String(job.id))) return; // failed but retried, or a scheduled job (no record)
    if ((succeeded ? job.opts.removeOnComplete : job.opts.removeOnFail) !== true) return;
    await this.redis.del(keys.jobQueue(this.prefix, String(job.id)));
  }

  /** The name of the queue holding a job, or null when unknown or its record expired. */
  queueOf(id: string): Promise<string | null> {
    return this.redis.get(keys.jobQueue(this.prefix, id));
  }

  /** Finds a job by its public id, with its BullMQ state; null when unknown or already removed. */
  async find(id: string): Promise<{ job: Job; state: string; queue: Queue } | null> {
    if (!isJobId(id)) return null;
    const queueName = await this.queueOf(id);
    if (!queueName) return null;
    const queue = this.get(queueName);
    let job = await queue.getJob(id);
    if (!job) return null;
    const state = await job.getState();
    // It may have ended between the two reads: read it again so its data agrees with its state.
    if ((state === 'completed' || state === 'failed') && !job.finishedOn) job = (await queue.getJob(id)) ?? job;
    return { job, state, queue };
  }

  /**
   * Moves a queued job (waiting, delayed, prioritized or paused) straight to failed with a CANCELED error,
   * atomically, so it never runs. `not-queued` when it is already running or finished (then announce it
   * with `announceCancel`).
   */
  async cancelQueued(queue: Queue, id: string, by: string): Promise<CancelOutcome> {
    const k = queue.keys;
    const r = await runScript(
      this.redis,
      'cancelQueued',
      [queue.toKey(id), k.wait ?? '', k.paused ?? '', k.prioritized ?? '', k.delayed ?? '', k.failed ?? '', k.events ?? ''],
      [id, encodeJobError(canceledError(by)), Date.now()],
    );
    return r === 1 ? 'canceled' : r === 0 ? 'not-queued' : 'missing';
  }

  /**
   * Marks a job as to be canceled and tells every worker process. The mark is written first: a worker
   * that starts the job after the message went out still sees it. It is kept while the job itself is
   * (retention_seconds): a retry long after still sees it.
   */
  async announceCancel(id: string, by: string): Promise<void> {
    await this.redis.set(keys.cancel(this.prefix, id), by, 'EX', this.config.retention_seconds);
    await this.redis.publish(keys.cancelChannel(this.prefix), id);
  }

  /** Who asked to cancel the job, or null when nobody did. */
  cancelRequestedBy(id: string): Promise<string | null> {
    return this.redis.get(keys.cancel(this.prefix, id));
  }

  /**
   * Calls `fn` with each job id announced for cancellation, on a connection of its own (a subscribed
   * connection can do nothing else). Returns how to stop listening.
   */
  async onCancel(fn: (id: string) => void, onError: (e: Error) => void): Promise<() => Promise<void>> {
    const sub = duplicateRedis(this.redis, { maxRetriesPerRequest: null });
    sub.on('error', onError);
    const channel = keys.cancelChannel(this.prefix);
    sub.on('message', (ch: string, id: string) => {
      if (ch === channel) fn(id);
    });
    await sub.subscribe(channel);
    return async () => {
      await sub.quit().catch(() => sub.disconnect());
    };
  }

  async close(): Promise<void> {
    const all = [...this.queues.values()];
    await Promise.all(all.map((q) => q.close()));
    // BullMQ's close of a queue on a shared connection removes the connection's listeners even while its
    // first wait for "ready" is pending (Redis down). When the client later ends, that wait fails and its
    // error is emitted with no listener: an unhandled rejection. Keep a listener for that late error.
    for (const q of all) (q as unknown as { connection: { on(e: 'error', f: () => void): void } }).connection.on('error', () => undefined);
  }
}
