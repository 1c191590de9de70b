/**
 * JobQueue's cancel of a queued job (script cancelQueued), which edits BullMQ's own keys. These tests pin
 * what the script relies on in the installed BullMQ: the keys a queued job sits in, the job hash's
 * fields a failed job has, and that a job failed this way reads as BullMQ's own failed jobs do. A BullMQ
 * upgrade that changes any of it fails here.
 */
import { decodeJobError } from '@provisioner/contracts';
import { Job, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobQueue } from '../src/job-queue.ts';
import { keys } from '../src/keys.ts';
import { jobConfig } from './job-config.ts';
import { REDIS_URL, useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('cancel');
let jobs: JobQueue;
const by = { submitted_by: 'test' };
const start = (host = 'h1', vm = 'vm') => jobs.submit({ kind: 'start', region: 'r1', host, vm_name: vm, ...by });

/** A Worker's connection (BullMQ wants blocking commands never retried); closed with the worker. */
const opened: Redis[] = [];
const workerConnection = () => {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  opened.push(r);
  return r;
};

beforeAll(() => {
  jobs = new JobQueue(env.redis, jobConfig(env.prefix));
});
afterAll(async () => {
  await jobs.close();
  await Promise.all(opened.map((r) => r.quit()));
});

describe('BullMQ’s key layout, as cancelQueued uses it', () => {
  it('names the lists and sets of a queue as the script expects, and keeps a job as a hash beside them', async () => {
    const q = jobs.get('ops.r1.h1');
    const base = `${env.prefix}:ops.r1.h1`;
    expect({
      wait: q.keys.wait,
      paused: q.keys.paused,
      prioritized: q.keys.prioritized,
      delayed: q.keys.delayed,
      failed: q.keys.failed,
      events: q.keys.events,
    }).toEqual({
      wait: `${base}:wait`,
      paused: `${base}:paused`,
      prioritized: `${base}:prioritized`,
      delayed: `${base}:delayed`,
      failed: `${base}:failed`,
      events: `${base}:events`,
    });
    const job = await start();
    expect(q.toKey(String(job.id))).toBe(`${base}:${job.id}`);
    expect(await env.redis.type(`${base}:${job.id}`)).toBe('hash');
    expect(await env.redis.lrange(`${base}:wait`, 0, -1)).toContain(job.id);
    const delayed = await jobs.get('ops.r1.h1').add('start', {}, { delay: 60_000 });
    expect(await env.redis.zscore(`${base}:delayed`, String(delayed.id))).not.toBeNull();
    const prio = await jobs.get('ops.r1.h1').add('start', {}, { priority: 5 });
    expect(await env.redis.zscore(`${base}:prioritized`, String(prio.id))).not.toBeNull();
    expect(await env.redis.type(`${base}:events`)).toBe('stream');
  });

  it('a job BullMQ itself fails has the fields the script writes (failedReason, finishedOn) and sits in the failed set', async () => {
    const name = 'ops.r1.pin';
    const job = await jobs.get(name).add('x', {}, { attempts: 1 });
    const worker = new Worker(
      name,
      async () => {
        throw new Error('boom');
      },
      { connection: workerConnection(), prefix: env.prefix },
    );
    try {
      await expect.poll(() => jobs.get(name).getJobState(String(job.id)), { timeout: 10_000 }).toBe('failed');
    } finally {
      await worker.close();
    }
    const hash = await env.redis.hgetall(jobs.get(name).toKey(String(job.id)));
    expect(hash.failedReason).toBe('boom');
    expect(Number(hash.finishedOn)).toBeGreaterThan(0);
    expect(await env.redis.zscore(jobs.get(name).keys.failed ?? '', String(job.id))).not.toBeNull();
  });
});

describe('cancelQueued', () => {
  it('fails a waiting, delayed, prioritized or paused job at once with our reason, readable with Job.fromId, and announces it on the events stream', async () => {
    const q = jobs.get('ops.r1.h2');
    const waiting = await start('h2', 'w');
    const delayed = await q.add('start', {}, { delay: 60_000 });
    const prio = await q.add('start', {}, { priority: 3 });
    for (const j of [waiting, delayed, prio]) {
      expect(await jobs.cancelQueued(q, String(j.id), "token 'admin'")).toBe('canceled');
      expect(await q.getJobState(String(j.id))).toBe('failed');
      const read = await Job.fromId(q, String(j.id));
      expect(decodeJobError(read?.failedReason)).toEqual({ code: 'CANCELED', message: "canceled by token 'admin'", retryable: false });
      expect(read?.finishedOn).toBeGreaterThan(0);
    }
    const events = await env.redis.xrange(q.keys.events ?? '', '-', '+');
    const failed = events.map(([, f]) => f).filter((f) => f.includes('failed') && f.includes(String(waiting.id)));
    expect(failed).toHaveLength(1);
    expect(await q.getWaitingCount()).toBe(0);

    await q.pause();
    const paused = await q.add('start', {});
    expect(await jobs.cancelQueued(q, String(paused.id), 'x')).toBe('canceled');
    expect(await q.getJobState(String(paused.id))).toBe('failed');
    await q.resume();
  });

  it('leaves a job that is no longer waiting (running or finished) alone, and answers missing for an unknown one', async () => {
    const name = 'ops.r1.busy';
    const q = jobs.get(name);
    const job = await q.add('x', {});
    let release!: () => void;
    const running = new Promise<void>((r) => (release = r));
    const worker = new Worker(name, () => running, { connection: workerConnection(), prefix: env.prefix });
    try {
      await expect.poll(() => q.getJobState(String(job.id)), { timeout: 10_000 }).toBe('active');
      expect(await jobs.cancelQueued(q, String(job.id), 'x')).toBe('not-queued');
      expect(await q.getJobState(String(job.id))).toBe('active');
      release();
      await expect.poll(() => q.getJobState(String(job.id)), { timeout: 10_000 }).toBe('completed');
      expect(await jobs.cancelQueued(q, String(job.id), 'x')).toBe('not-queued');
      expect(await q.getJobState(String(job.id))).toBe('completed');
    } finally {
      await worker.close();
    }
    expect(await jobs.cancelQueued(q, 'job_0123456789abcdef0123456789abcdef', 'x')).toBe('missing');
  });

  it('announceCancel marks the job (for the retention) before telling every worker; onCancel hears it', async () => {
    const heard: string[] = [];
    const stop = await jobs.onCancel(
      (id) => heard.push(id),
      () => undefined,
    );
    try {
      await jobs.announceCancel('job_x', "token 'admin'");
      expect(await jobs.cancelRequestedBy('job_x')).toBe("token 'admin'");
      expect(await env.redis.ttl(keys.cancel(env.prefix, 'job_x'))).toBeGreaterThan(0);
      await expect.poll(() => heard, { timeout: 5000 }).toEqual(['job_x']);
      expect(await jobs.cancelRequestedBy('job_y')).toBeNull();
    } finally {
      await stop();
    }
  });
});
