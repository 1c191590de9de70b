/** RegionLock and its script (releaseRegionLock) against the machine's Redis. */
import { describe, expect, it } from 'vitest';
import { keys } from '../src/keys.ts';
import { RegionLock } from '../src/region-lock.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('lock');

describe('releaseRegionLock', () => {
  it('one holder at a time per region; release by the holder’s token frees it', async () => {
    const lock = new RegionLock(env.redis, env.prefix);
    const t = await lock.tryAcquire('r1', 5000);
    expect(t).toBeTypeOf('string');
    expect(await lock.tryAcquire('r1', 5000)).toBeNull();
    expect(await lock.tryAcquire('r2', 5000)).toBeTypeOf('string');
    expect(await lock.release('r1', t as string)).toBe(true);
    expect(await env.redis.exists(keys.regionLock(env.prefix, 'r1'))).toBe(0);
    expect(await lock.release('r1', t as string)).toBe(false);
  });

  it('a lapsed lock taken by another is not released with the old token', async () => {
    const lock = new RegionLock(env.redis, env.prefix);
    const old = (await lock.tryAcquire('r3', 20)) as string;
    await new Promise((r) => setTimeout(r, 60));
    const now = await lock.tryAcquire('r3', 5000);
    expect(now).toBeTypeOf('string');
    expect(await lock.release('r3', old)).toBe(false);
    expect(await env.redis.get(keys.regionLock(env.prefix, 'r3'))).toBe(now);
  });
});
