/** VmLedger.free and the script behind it and releaseResize (releasePending), against the machine's Redis. */
import { describe, expect, it } from 'vitest';
import { keys } from '../src/keys.ts';
import { runScript } from '../src/scripts.ts';
import { VmLedger } from '../src/vm-ledger.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('release');
const need = { vcpus: 2, memory_mb: 1024, storage_mb: 4096 };
const noLimit = { n: null, vcpus: null, memory_mb: null, storage_mb: null };
const ZERO = { n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 };
let region = 0;
const fresh = () => ({ ledger: new VmLedger(env.redis, env.prefix), r: `r${++region}` });
const totals = async (ledger: VmLedger, r: string, h = 'h1') => (await ledger.totals(r, [h])).get(h);
/** The script's form without the name (releaseResize's): the entry only. */
const release = (r: string, h: string, entry: string) =>
  runScript(env.redis, 'releasePending', [keys.pendingCreates(env.prefix, r, h), keys.pendingTotals(env.prefix, r, h)], [entry]);

describe('releasePending', () => {
  it('the entry-only form takes a create off the totals once (a second release, or one of an unknown VM, changes nothing) and keeps its name', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    await ledger.reserve(r, 'h1', 'b', need, noLimit);
    await release(r, 'h1', 'a');
    await release(r, 'h1', 'a');
    await release(r, 'h1', 'never-reserved');
    expect(await totals(ledger, r)).toEqual({ n: 1, vcpus: 2, memory_mb: 1024, storage_mb: 4096 });
    // The VM exists now (or its create failed and the worker frees it): the name stays with the host.
    expect(await ledger.hostOf(r, 'a')).toBe('h1');
  });

  it('free frees the name only while it is reserved for that host, and the room', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    await ledger.free(r, 'h2', 'a');
    expect(await ledger.hostOf(r, 'a')).toBe('h1');
    expect(await totals(ledger, r)).toEqual({ n: 1, vcpus: 2, memory_mb: 1024, storage_mb: 4096 });
    await ledger.free(r, 'h1', 'a');
    expect(await ledger.hostOf(r, 'a')).toBeNull();
    expect(await totals(ledger, r)).toEqual(ZERO);
    // Freeing again, or a VM never reserved: nothing to do, no error.
    await ledger.free(r, 'h1', 'a');
    await ledger.free(r, 'h1', 'unknown');
    expect(await totals(ledger, r)).toEqual(ZERO);
  });

  it('free of a name whose pending entry was already released still frees the name', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    await release(r, 'h1', 'a');
    await ledger.free(r, 'h1', 'a');
    expect(await env.redis.exists(keys.vmHost(env.prefix, r, 'a'))).toBe(0);
    expect(await totals(ledger, r)).toEqual(ZERO);
  });

  it('an unreadable entry is removed without changing the totals', async () => {
    const { ledger, r } = fresh();
    await env.redis.hset(keys.pendingCreates(env.prefix, r, 'h1'), 'bad', 'not json');
    await release(r, 'h1', 'bad');
    expect(await env.redis.hexists(keys.pendingCreates(env.prefix, r, 'h1'), 'bad')).toBe(0);
    expect(await totals(ledger, r)).toEqual(ZERO);
  });

  it('forget frees a deleted VM’s name', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    expect(await ledger.acceptedNames(r)).toEqual(['a']);
    await ledger.forget(r, 'a');
    expect(await ledger.acceptedNames(r)).toEqual([]);
  });
});
