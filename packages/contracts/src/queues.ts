/**
 * Submitting and finding jobs: the one place that knows how a job is laid out in Redis, so the API,
 * the worker and the tests can never disagree about it.
 */
import { randomUUID } from 'node:crypto';
import { type Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config/schema.ts';
import { encryptUserData } from './crypto.ts';
import { hostQueueName, type JobPayload, keys } from './jobs.ts';

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

// KEYS: the job → queue key, then for an operation on a VM its seq counter and its line of operations
// (ZSET by seq). ARGV: queue name, that key's TTL, job id. Records the job's queue and puts an operation
// in its VM's line under the VM's next seq; answers the seq (0 for a job that is not a VM's).
const RECORD = `redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if #KEYS < 3 then return 0 end
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], seq, ARGV[3])
return seq`;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A payload as the API builds it: the seq is assigned at submission, user-data given in plain text. */
export type NewJob = DistributiveOmit<JobPayload, 'seq' | 'user_data_enc'> & { user_data?: string | null };

/** Holds one BullMQ Queue per host queue name, sharing one Redis connection. */
export class Queues {
  private readonly queues = new Map<string, Queue>();
  private readonly submitted: Array<(kind: JobPayload['kind']) => void> = [];
  constructor(
    readonly redis: Redis,
    readonly config: Config,
  ) {}

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
   */
  async submit(p: NewJob): Promise<Job> {
    const id = `job_${randomUUID().replaceAll('-', '')}`;
    const queueName = hostQueueName(p.region, p.host);
    const { attempts, backoff_ms } = this.config.worker;
    const hostJob = p.kind === 'refresh' || p.kind === 'image-cache';
    // The job's queue and, for an operation on a VM, its seq and place in the VM's line: one round trip.
    const vmKeys = hostJob ? [] : [keys.vmSeq(this.prefix, p.region, p.vm_name), keys.vmOps(this.prefix, p.region, p.vm_name)];
    const seq = Number(
      await this.redis.eval(RECORD, 1 + vmKeys.length, keys.jobQueue(this.prefix, id), ...vmKeys, queueName, String(recordTtl(this.config)), id),
    );
    let data: JobPayload;
    if (hostJob) {
      data = p;
    } else {
      const { user_data, ...rest } = p as NewJob & { vm_name: string; user_data?: string | null };
      data = { ...rest, seq } as JobPayload;
      if (p.kind === 'create') {
        (data as Extract<JobPayload, { kind: 'create' }>).user_data_enc = user_data ? encryptUserData(user_data, this.config.user_data_key, id) : null;
      }
    }
    const job = await this.get(queueName).add(p.kind, data, {
      jobId: id,
      attempts: hostJob ? 1 : attempts,
      backoff: { type: 'exponential', delay: backoff_ms, jitter: 0.5 },
      ...keepFinished(this.config),
    });
    for (const fn of this.submitted) fn(p.kind);
    return job;
  }

  /** Finds a job by its public id, with its BullMQ state; null when unknown or already removed. */
  async find(id: string): Promise<{ job: Job; state: string; queue: Queue } | null> {
    if (!/^job_[a-f0-9]{32}$/.test(id)) return null;
    const queueName = await this.redis.get(keys.jobQueue(this.prefix, id));
    if (!queueName) return null;
    const queue = this.get(queueName);
    let job = await queue.getJob(id);
    if (!job) return null;
    const state = await job.getState();
    // It may have ended between the two reads: read it again so its data agrees with its state.
    if ((state === 'completed' || state === 'failed') && !job.finishedOn) job = (await queue.getJob(id)) ?? job;
    return { job, state, queue };
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}
