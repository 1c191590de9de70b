/**
 * Writes across a Sentinel failover, on a real master, replica and three sentinels (spare ports; run with
 * `min-replicas-to-write 1` as docker-compose.prod.yml runs them): a write the old master refuses because its
 * replica left it (NOREPLICAS) is sent again to the new master, so every write a client saw succeed is on the
 * new master, once, and none fails.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisSetup, startSentinel } from '../../../test/support/redis-ha.ts';
import { connectRedis } from '../src/redis.ts';

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

  it('keeps every write it acknowledged through SENTINEL FAILOVER, each once', async () => {
    let acknowledged = 0;
    const errors: string[] = [];
    let stop = false;
    // Eight writers incrementing one counter until the failover is over and a moment after.
    const writers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        await redis.incr('{fo}:counter').then(
          () => acknowledged++,
          (e: Error) => errors.push(e.message),
        );
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    const before = acknowledged;
    await (setup.failover as () => Promise<void>)();
    // Until the failover is over: the new master takes writes again (its replica, the old master, rejoined).
    const t0 = Date.now();
    await redis.set('{fo}:after', '1');
    console.log(`writes resumed ${Date.now() - t0} ms after the promotion`);
    stop = true;
    await Promise.all(writers);
    const fresh = setup.client();
    const counted = Number(await fresh.get('{fo}:counter'));
    const role = ((await fresh.role()) as unknown[])[0];
    await fresh.quit();
    expect(errors).toEqual([]);
    expect(acknowledged).toBeGreaterThan(before);
    expect(role).toBe('master');
    // Not one acknowledged increment lost by the old master, nor counted twice.
    expect(counted).toBe(acknowledged);
  }, 60_000);
});
