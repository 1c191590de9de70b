/** VmLedger.reserve and its script (reservePending) against the machine's Redis. */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { keys } from '../src/keys.ts';
import { VmLedger } from '../src/vm-ledger.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('reserve');
const need = { vcpus: 2, memory_mb: 1024, storage_mb: 4096 };
const noLimit = { n: null, vcpus: null, memory_mb: null, storage_mb: null };
let region = 0;
/** A region of its own per test, so tests share no key. */
const fresh = () => ({ ledger: new VmLedger(env.redis, env.prefix), r: `r${++region}` });

describe('reservePending', () => {
  it('reserves the name for the host and counts the create in the host’s totals', async () => {
    const { ledger, r } = fresh();
    expect(await ledger.reserve(r, 'h1', 'a', need, noLimit)).toEqual({ ok: true });
    expect(await ledger.reserve(r, 'h1', 'b', need, noLimit)).toEqual({ ok: true });
    expect((await ledger.totals(r, ['h1'])).get('h1')).toEqual({ n: 2, vcpus: 4, memory_mb: 2048, storage_mb: 8192 });
    expect(await env.redis.get(keys.vmHost(env.prefix, r, 'a'))).toBe('h1');
    expect(JSON.parse((await env.redis.hget(keys.pendingCreates(env.prefix, r, 'h1'), 'a')) ?? '')).toEqual(need);
  });

  it('answers exists when the name is taken in the region, whichever host asks, and changes nothing', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    expect(await ledger.reserve(r, 'h2', 'a', need, noLimit)).toEqual({ ok: false, reason: 'exists' });
    expect(await ledger.reserve(r, 'h1', 'a', need, noLimit)).toEqual({ ok: false, reason: 'exists' });
    expect((await ledger.totals(r, ['h1', 'h2'])).get('h2')).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
    expect((await ledger.totals(r, ['h1'])).get('h1')?.n).toBe(1);
    expect(await env.redis.get(keys.vmHost(env.prefix, r, 'a'))).toBe('h1');
  });

  it('answers full with the field that would pass its limit, for each field, and reserves nothing (not even the name)', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    const cases = [
      [{ ...noLimit, n: 1 }, 'n'],
      [{ ...noLimit, vcpus: 3 }, 'vcpus'],
      [{ ...noLimit, memory_mb: 2047 }, 'memory_mb'],
      [{ ...noLimit, storage_mb: 8191 }, 'storage_mb'],
    ] as const;
    for (const [limits, field] of cases) expect(await ledger.reserve(r, 'h1', 'b', need, limits)).toEqual({ ok: false, reason: 'full', field });
    expect(await env.redis.exists(keys.vmHost(env.prefix, r, 'b'))).toBe(0);
    expect((await ledger.totals(r, ['h1'])).get('h1')).toEqual({ n: 1, vcpus: 2, memory_mb: 1024, storage_mb: 4096 });
    // Exactly at the limit fits; a negative limit (over-committed host) counts as none left.
    expect(await ledger.reserve(r, 'h1', 'b', need, { n: 2, vcpus: 4, memory_mb: 2048, storage_mb: 8192 })).toEqual({ ok: true });
    expect(await ledger.reserve(r, 'h1', 'c', need, { ...noLimit, vcpus: -5 })).toEqual({ ok: false, reason: 'full', field: 'vcpus' });
  });

  it('never passes a limit under concurrent reservations from many clients', async () => {
    const { r } = fresh();
    const clients = Array.from({ length: 4 }, () => env.connect());
    const rs = await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        new VmLedger(clients[i % clients.length] as Redis, env.prefix).reserve(r, 'h1', `vm-${i}`, need, { ...noLimit, vcpus: 2 * 17 }),
      ),
    );
    expect(rs.filter((x) => x.ok)).toHaveLength(17);
    expect((await new VmLedger(env.redis, env.prefix).totals(r, ['h1'])).get('h1')).toEqual({ n: 17, vcpus: 34, memory_mb: 17 * 1024, storage_mb: 17 * 4096 });
    expect(await env.redis.hlen(keys.pendingCreates(env.prefix, r, 'h1'))).toBe(17);
  });
});
