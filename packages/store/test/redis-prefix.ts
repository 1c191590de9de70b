/** A Redis connection and a key prefix of its own per test file, whose keys are deleted afterwards. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { scanKeys } from '../src/redis.ts';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface RedisPrefix {
  redis: Redis;
  /** `{t-name-random}`: a hash tag like the service's prefix. */
  prefix: string;
  /** Another connection to the same server (closed with the first). */
  connect(): Redis;
}

export function useRedisPrefix(name: string): RedisPrefix {
  const extra: Redis[] = [];
  const env = {
    prefix: `{t-${name}-${randomBytes(6).toString('hex')}}`,
    connect() {
      const r = new Redis(REDIS_URL);
      extra.push(r);
      return r;
    },
  } as RedisPrefix;
  beforeAll(async () => {
    env.redis = new Redis(REDIS_URL);
    // Connected before the tests start (AuthFailureCounter, for one, counts nothing until the connection is ready).
    await env.redis.ping();
  });
  afterAll(async () => {
    const found = await scanKeys(env.redis, `${env.prefix}*`);
    if (found.length > 0) await env.redis.del(...found);
    await Promise.all([env.redis, ...extra].filter((r) => r.status !== 'end').map((r) => r.quit()));
  });
  return env;
}
