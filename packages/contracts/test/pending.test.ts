/** Pending creates and their running totals, against a real Redis (the test's own prefix, removed after). */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { keys } from '../src/jobs.ts';
import { freeCreate, NO_PENDING, pendingTotals, releasePending, reservePending, sweepPending } from '../src/pending.ts';
import { scanKeys } from '../src/redis.ts';

const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: false });
const prefix = `{test-pending-${randomUUID().slice(0, 8)}}`;
const need = { vcpus: 2, memory_mb: 1024, storage_mb: 4096 };
const noLimit = { n: null, vcpus: null, memory_mb: null, storage_mb: null };
const totals = async (host = 'h1') => (await pendingTotals(redis, prefix, 'r1', [host])).get(host);

async function clean() {
  const found = await scanKeys(redis, `${prefix}:*`);
  if (found.length) await redis.del(...found);
}
beforeEach(clean);
afterAll(async () => {
  await clean();
  await redis.quit();
});

describe('pending creates', () => {
  it('reserve records the name and the entry and adds it to the totals; release takes it off once', async () => {
    expect(await totals()).toEqual(NO_PENDING);
    expect(await reservePending(redis, prefix, 'r1', 'h1', 'a', need, noLimit)).toEqual({ ok: true });
    expect(await reservePending(redis, prefix, 'r1', 'h1', 'b', need, noLimit)).toEqual({ ok: true });
    expect(await totals()).toEqual({ n: 2, vcpus: 4, memory_mb: 2048, storage_mb: 8192 });
    expect(await redis.get(keys.vmHost(prefix, 'r1', 'a'))).toBe('h1');
    // The name is taken in the region, whichever host asks: nothing changes.
    expect(await reservePending(redis, prefix, 'r1', 'h2', 'a', need, noLimit)).toEqual({ ok: false, reason: 'exists' });
    expect(await totals('h2')).toEqual(NO_PENDING);
    await releasePending(redis, prefix, 'r1', 'h1', 'a');
    await releasePending(redis, prefix, 'r1', 'h1', 'a');
    expect(await totals()).toEqual({ n: 1, vcpus: 2, memory_mb: 1024, storage_mb: 4096 });
  });

  it('freeing a create that will not run frees its name only while it is reserved for that host, and its room', async () => {
    expect(await reservePending(redis, prefix, 'r1', 'h1', 'a', need, noLimit)).toEqual({ ok: true });
    await freeCreate(redis, prefix, 'r1', 'h2', 'a');
    expect(await redis.get(keys.vmHost(prefix, 'r1', 'a'))).toBe('h1');
    expect(await totals()).toEqual({ n: 1, vcpus: 2, memory_mb: 1024, storage_mb: 4096 });
    await freeCreate(redis, prefix, 'r1', 'h1', 'a');
    expect(await redis.exists(keys.vmHost(prefix, 'r1', 'a'))).toBe(0);
    expect(await totals()).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
  });

  it('refuses a reservation past any limit and changes nothing (not even the name)', async () => {
    const limits = { n: 5, vcpus: 3, memory_mb: null, storage_mb: null };
    expect(await reservePending(redis, prefix, 'r1', 'h1', 'a', need, limits)).toEqual({ ok: true });
    expect(await reservePending(redis, prefix, 'r1', 'h1', 'b', need, limits)).toEqual({ ok: false, reason: 'full', field: 'vcpus' });
    expect(await redis.exists(keys.vmHost(prefix, 'r1', 'b'))).toBe(0);
    expect(await reservePending(redis, prefix, 'r1', 'h1', 'b', need, { ...noLimit, n: 1 })).toEqual({ ok: false, reason: 'full', field: 'n' });
    expect(await reservePending(redis, prefix, 'r1', 'h1', 'b', need, { ...noLimit, storage_mb: 8000 })).toEqual({
      ok: false,
      reason: 'full',
      field: 'storage_mb',
    });
    expect(await totals()).toEqual({ n: 1, vcpus: 2, memory_mb: 1024, storage_mb: 4096 });
  });

  it('concurrent reservations from many clients never pass the limit', async () => {
    const clients = Array.from({ length: 4 }, () => redis.duplicate());
    try {
      const rs = await Promise.all(
        Array.from({ length: 80 }, (_, i) =>
          reservePending(clients[i % clients.length] as Redis, prefix, 'r1', 'h1', `vm-${i}`, need, { ...noLimit, vcpus: 2 * 17 }),
        ),
      );
      expect(rs.filter((r) => r.ok)).toHaveLength(17);
      expect(await totals()).toEqual({ n: 17, vcpus: 34, memory_mb: 17 * 1024, storage_mb: 17 * 4096 });
      expect(await redis.hlen(keys.pendingCreates(prefix, 'r1', 'h1'))).toBe(17);
    } finally {
      await Promise.all(clients.map((c) => c.quit()));
    }
  });

  it('sweep drops the names given and recounts the totals from the entries left (totals that drifted are right again)', async () => {
    for (const n of ['a', 'b', 'c']) await reservePending(redis, prefix, 'r1', 'h1', n, need, noLimit);
    // An entry written before totals existed, and totals off by some.
    await redis.hset(keys.pendingCreates(prefix, 'r1', 'h1'), 'old', JSON.stringify({ vcpus: 1, memory_mb: 1, storage_mb: 1 }));
    await redis.hincrby(keys.pendingTotals(prefix, 'r1', 'h1'), 'vcpus', 100);
    expect(await sweepPending(redis, prefix, 'r1', 'h1', ['b'])).toEqual({ n: 3, vcpus: 5, memory_mb: 2049, storage_mb: 8193 });
    expect(await totals()).toEqual({ n: 3, vcpus: 5, memory_mb: 2049, storage_mb: 8193 });
    expect(await sweepPending(redis, prefix, 'r1', 'h1', [])).toEqual({ n: 3, vcpus: 5, memory_mb: 2049, storage_mb: 8193 });
  });
});
