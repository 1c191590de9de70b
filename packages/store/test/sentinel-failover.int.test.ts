/**
 * Writes across a Sentinel failover, on a real master, replica and three sentinels (spare ports; run with
 * `min-replicas-to-write 1` as docker-compose.prod.yml runs them): a write the old master refuses because its
 * replica left it (NOREPLICAS) is sent again to the new master, so every write a client saw succeed is on the
 * new master, once, and none fails; and a submission is confirmed only once the replica holds it.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisSetup, startSentinel } from '../../../test/support/redis-ha.ts';
import { JobQueue } from '../src/job-queue.ts';
import { connectRedis } from '../src/redis.ts';
import { jobConfig } from './job-config.ts';

let setup: RedisSetup;
let redis: Redis;

beforeAll(async () => {
  setup = await startSentinel({ sentinels: 3, serverArgs: ['--min-replicas-to-write', '1', '--min-replicas-max-lag', '10'] });
  // As the workers connect (no offline-queue limit); the API's connection differs only in its bounds.
  redis = connectRedis(setup.config as never, { maxRetriesPerRequest: null });
}, 60_000);

afterAll(async () => {
  await redis?.quit().catch(() => undefined);
  await setup?.stop();
});

describe('a Sentinel client across a failover', () => {
  it('sends a write refused with NOREPLICAS again, and it lands once the master has its replica', async () => {
    const admin = setup.client();
    // Two replicas wanted, one there: the master refuses writes until it wants one again.
    await admin.config('SET', 'min-replicas-to-write', '2');
    const write = redis.set('{fo}:refused', 'v');
    await new Promise((r) => setTimeout(r, 500));
    await admin.config('SET', 'min-replicas-to-write', '1');
    expect(await write).toBe('OK');
    expect(await admin.get('{fo}:refused')).toBe('v');
    await admin.quit();
  });

  it('confirms a submission once the replica holds it, and not while the replica does not answer', async () => {
    const config = { ...jobConfig('{fo-confirm}'), redis: setup.config.redis } as ReturnType<typeof jobConfig>;
    const jobs = new JobQueue(redis, config);
    const replica = new Redis({ port: (setup.ports as { replicas: number[] }).replicas[0], host: '127.0.0.1' });
    const pid = Number(/process_id:(\d+)/.exec(await replica.info('server'))?.[1]);
    try {
      const job = await jobs.submit({ kind: 'refresh', region: 'r1', host: 'h1', submitted_by: 'test' } as never);
      expect(await jobs.confirmStored()).toBe(true);
      expect((await jobs.findOnMaster(String(job.id)))?.job.id).toBe(job.id);
      // The replica stopped (SIGSTOP) for longer than the wait for it: a write made now is not confirmed.
      process.kill(pid, 'SIGSTOP');
      await redis.set('{fo-confirm}:x', '1');
      expect(await jobs.confirmStored()).toBe(false);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(await jobs.confirmStored()).toBe(true);
    await replica.quit();
    await jobs.close();
  });

  it('keeps every write it confirmed through SENTINEL FAILOVER, and loses none to an error', async () => {
    const jobs = new JobQueue(redis, { ...jobConfig('{fo-burst}'), redis: setup.config.redis } as ReturnType<typeof jobConfig>);
    const confirmed: string[] = [];
    const errors: string[] = [];
    let stop = false;
    let n = 0;
    // Eight writers adding members to one set until the failover is over; a member counts once confirmed.
    const writers = Array.from({ length: 8 }, async (_, w) => {
      while (!stop) {
        const m = `${w}-${n++}`;
        try {
          await redis.sadd('{fo}:members', m);
          if (await jobs.confirmStored()) confirmed.push(m);
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    const before = confirmed.length;
    await (setup.failover as () => Promise<void>)();
    // Until the failover is over: the new master takes writes again (its replica, the old master, rejoined).
    const t0 = Date.now();
    await redis.set('{fo}:after', '1');
    console.log(`writes resumed ${Date.now() - t0} ms after the promotion`);
    stop = true;
    await Promise.all(writers);
    const fresh = setup.client();
    const members = new Set(await fresh.smembers('{fo}:members'));
    const role = ((await fresh.role()) as unknown[])[0];
    await fresh.quit();
    await jobs.close();
    expect(errors).toEqual([]);
    expect(confirmed.length).toBeGreaterThan(before);
    expect(role).toBe('master');
    // Not one confirmed write lost by the old master.
    expect(confirmed.filter((m) => !members.has(m))).toEqual([]);
  }, 60_000);
});
