/** VmLedger.sweep and .sweepNames, and their script (sweepPending), against the machine's Redis. */
import { describe, expect, it } from 'vitest';
import { keys } from '../src/keys.ts';
import { VmLedger } from '../src/vm-ledger.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('sweep');
const need = { vcpus: 2, memory_mb: 1024, storage_mb: 4096 };
const noLimit = { n: null, vcpus: null, memory_mb: null, storage_mb: null };
let region = 0;
const fresh = () => ({ ledger: new VmLedger(env.redis, env.prefix), r: `r${++region}` });

describe('sweepPending', () => {
  it('drops the names given and recounts the totals from the entries left (totals that drifted are right again)', async () => {
    const { ledger, r } = fresh();
    for (const n of ['a', 'b', 'c']) await ledger.reserve(r, 'h1', n, need, noLimit);
    // An entry written before totals existed, an unreadable one, and totals off by some.
    await env.redis.hset(keys.pendingCreates(env.prefix, r, 'h1'), 'old', JSON.stringify({ vcpus: 1, memory_mb: 1, storage_mb: 1 }), 'bad', '{');
    await env.redis.hincrby(keys.pendingTotals(env.prefix, r, 'h1'), 'vcpus', 100);
    const want = { n: 3, vcpus: 5, memory_mb: 2049, storage_mb: 8193 };
    expect(await ledger.sweepNames(r, 'h1', ['b'])).toEqual(want);
    expect((await ledger.totals(r, ['h1'])).get('h1')).toEqual(want);
    expect(await ledger.sweepNames(r, 'h1', [])).toEqual(want);
  });

  it('on a host with nothing pending, writes zero totals', async () => {
    const { ledger, r } = fresh();
    await env.redis.hset(keys.pendingTotals(env.prefix, r, 'h1'), 'n', 7, 'vcpus', 9);
    expect(await ledger.sweepNames(r, 'h1', ['unknown'])).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
  });

  it('sweep drops the creates the inventory lists and those whose name is no longer reserved for the host', async () => {
    const { ledger, r } = fresh();
    for (const n of ['listed', 'freed', 'elsewhere', 'waiting']) await ledger.reserve(r, 'h1', n, need, noLimit);
    await ledger.forget(r, 'freed');
    await env.redis.set(keys.vmHost(env.prefix, r, 'elsewhere'), 'h2');
    expect(await ledger.sweep(r, 'h1', new Set(['listed']))).toEqual({ n: 1, vcpus: 2, memory_mb: 1024, storage_mb: 4096 });
    expect(await env.redis.hkeys(keys.pendingCreates(env.prefix, r, 'h1'))).toEqual(['waiting']);
  });
});
