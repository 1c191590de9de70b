/**
 * Limits: a per-token request rate (fixed window counted in Redis, so every API process shares it)
 * and an optional per-region VM quota.
 */
import type { RegionConfig } from '@provisioner/contracts';
import { RateLimiter } from '@provisioner/store';
import type { MiddlewareHandler } from 'hono';
import type { Redis } from 'ioredis';
import type { AppEnv, Services } from './context.ts';
import { ApiError } from './errors.ts';
import { vmItems } from './inventory.ts';

/**
 * Answers 429 with Retry-After once a token has used up `rate_limit.requests` in the current window of
 * `rate_limit.per_seconds`. Tokens without a rate limit are not counted.
 */
export function rateLimit(redis: Redis, prefix: string): MiddlewareHandler<AppEnv> {
  const limiter = new RateLimiter(redis, prefix);
  return async (c, next) => {
    const limit = c.get('caller')?.rateLimit;
    const name = c.get('caller')?.name;
    if (!limit || !name) return next();
    const windowMs = limit.per_seconds * 1000;
    const { count, resetMs } = await limiter.hit(name, windowMs);
    const resetS = Math.max(1, Math.ceil(resetMs / 1000));
    c.header('RateLimit-Limit', String(limit.requests));
    c.header('RateLimit-Remaining', String(Math.max(0, limit.requests - count)));
    c.header('RateLimit-Reset', String(resetS));
    if (count > limit.requests) {
      throw new ApiError('RATE_LIMITED', `rate limit of ${limit.requests} requests per ${limit.per_seconds} s exceeded`, {
        headers: { 'Retry-After': String(resetS) },
      });
    }
    return next();
  };
}

/** Placement, quota count and name reservation take milliseconds; a lock left by a request that died with Redis lapses soon. */
const LOCK_TTL_MS = 2_000;

/** How long a create waits for another API process's hold on the region's lock before answering 503. */
const LOCK_WAIT_MS = 10_000;

/** Per API process and region: the tail of the creates waiting for the region's lock here. */
const localTails = new WeakMap<Services, Map<string, Promise<void>>>();

/**
 * Runs `fn` under a short per-region lock: a create's placement, quota count and name reservation happen
 * together, so concurrent creates neither count the same free capacity twice nor go past `max_vms`.
 * Creates in one API process line up in memory first, so only one of them at a time asks Redis for the
 * lock (no crowd of pollers); other processes' creates take turns with it through Redis.
 */
export async function withRegionLock<T>(s: Services, region: RegionConfig, fn: () => Promise<T>): Promise<T> {
  let tails = localTails.get(s);
  if (!tails) {
    tails = new Map();
    localTails.set(s, tails);
  }
  const name = region.region_name;
  const before = tails.get(name) ?? Promise.resolve();
  let done!: () => void;
  const tail = before.then(() => new Promise<void>((r) => (done = r)));
  tails.set(name, tail);
  await before;
  try {
    return await withRedisLock(s, name, fn);
  } finally {
    done();
    if (tails.get(name) === tail) tails.delete(name);
  }
}

async function withRedisLock<T>(s: Services, region: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let token = await s.regionLock.tryAcquire(region, LOCK_TTL_MS);
  while (token === null) {
    if (Date.now() > deadline) throw new ApiError('UNAVAILABLE', 'too many creates at once in this region, try again', { headers: { 'Retry-After': '1' } });
    await new Promise((r) => setTimeout(r, 2 + Math.random() * 6));
    token = await s.regionLock.tryAcquire(region, LOCK_TTL_MS);
  }
  try {
    return await fn();
  } finally {
    await s.regionLock.release(region, token).catch(() => undefined);
  }
}

/**
 * 409 with the reason when a new VM would take the region past its `max_vms` (call it under
 * withRegionLock). Counted: the VMs the inventory lists plus accepted creates that have not run yet.
 */
export async function checkQuota(s: Services, region: RegionConfig, name: string): Promise<void> {
  const max = region.max_vms;
  if (max === undefined) return;
  const [entries, accepted] = await Promise.all([s.inventory.entries([region]), s.ledger.acceptedNames(region.region_name)]);
  const names = new Set([...vmItems(entries).map((v) => v.vm_name), ...accepted]);
  names.delete(name);
  if (names.size >= max) {
    throw new ApiError('CONFLICT', `region ${region.region_name} is at its quota of ${max} VMs`, {
      details: { reason: 'quota', region: region.region_name, max_vms: max, vms: names.size },
    });
  }
}
