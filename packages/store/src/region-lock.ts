/**
 * A short lock per region in Redis, shared by every API process: held while a create is placed and
 * counted against the region's quota. It lapses by itself (a holder that died with Redis does not block
 * the region for long), and is released only by the holder's token.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { runScript } from './scripts.ts';

export class RegionLock {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Takes the region's lock for `ttlMs` if it is free: the token to release it with, else null. */
  async tryAcquire(region: string, ttlMs: number): Promise<string | null> {
    const token = randomUUID();
    return (await this.redis.set(keys.regionLock(this.prefix, region), token, 'PX', ttlMs, 'NX')) === null ? null : token;
  }

  /** Releases the lock if it is still held with `token`; false when it lapsed (and may be another's now). */
  async release(region: string, token: string): Promise<boolean> {
    return (await runScript(this.redis, 'releaseRegionLock', [keys.regionLock(this.prefix, region)], [token])) === 1;
  }
}
