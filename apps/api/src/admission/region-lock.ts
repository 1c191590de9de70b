/**
 * The region lock: admission's slow path (placement, quota count and reservation together) runs under it,
 * so concurrent creates neither count the same free capacity twice nor go past a region's `max_vms`.
 */
import type { RegionConfig } from '@provisioner/contracts';
import type { Services } from '../context.ts';
import { ApiError } from '../errors.ts';

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
