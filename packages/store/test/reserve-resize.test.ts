/** VmLedger.reserveResize / releaseResize (reservePending in its resize mode) and the sweep, against the machine's Redis. */
import { describe, expect, it } from 'vitest';
import { keys } from '../src/keys.ts';
import { runScript } from '../src/scripts.ts';
import { VmLedger } from '../src/vm-ledger.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('resize');
const need = { vcpus: 2, memory_mb: 1024, storage_mb: 4096 };
const noLimit = { n: null, vcpus: null, memory_mb: null, storage_mb: null };
let region = 0;
/** Its create ended (settled): the VM is listed now, its pending entry gone. */
const created = (r: string, vm: string) =>
  runScript(env.redis, 'releasePending', [keys.pendingCreates(env.prefix, r, 'h1'), keys.pendingTotals(env.prefix, r, 'h1')], [vm]);
const fresh = () => ({ ledger: new VmLedger(env.redis, env.prefix), r: `r${++region}` });

describe('reserveResize', () => {
  it('counts the extra room of a VM reserved for the host (no VM added, shrinking parts as 0) and gives it all back', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    await created(r, 'a');
    expect(await ledger.reserveResize(r, 'h1', 'a', { vcpus: 2, memory_mb: -512, storage_mb: 0 }, noLimit)).toEqual({ ok: true });
    expect((await ledger.totals(r, ['h1'])).get('h1')).toEqual({ n: 0, vcpus: 2, memory_mb: 0, storage_mb: 0 });
    // Zeros in the entry are taken off as zeros (Lua's -0 is no integer to HINCRBY).
    await ledger.releaseResize(r, 'h1', 'a');
    expect((await ledger.totals(r, ['h1'])).get('h1')).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
    expect(await env.redis.hlen(keys.pendingCreates(env.prefix, r, 'h1'))).toBe(0);
  });

  it('refuses past a limit (only for what it needs), a second resize of the VM, and a VM reserved for another host', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    // The host is at its VM cap (n limit 0): a resize adds no VM, so that does not stop it.
    const limits = { n: 0, vcpus: 3, memory_mb: null, storage_mb: null };
    expect(await ledger.reserveResize(r, 'h1', 'a', { vcpus: 2, memory_mb: 0, storage_mb: 0 }, limits)).toEqual({ ok: false, reason: 'full', field: 'vcpus' });
    expect(await ledger.reserveResize(r, 'h1', 'a', { vcpus: 1, memory_mb: 0, storage_mb: 0 }, limits)).toEqual({ ok: true });
    expect(await ledger.reserveResize(r, 'h1', 'a', { vcpus: 0, memory_mb: 0, storage_mb: 0 }, noLimit)).toEqual({ ok: false, reason: 'busy' });
    expect(await ledger.reserveResize(r, 'h2', 'a', { vcpus: 1, memory_mb: 0, storage_mb: 0 }, noLimit)).toEqual({ ok: false, reason: 'gone' });
    expect((await ledger.totals(r, ['h1'])).get('h1')).toEqual({ n: 1, vcpus: 3, memory_mb: 1024, storage_mb: 4096 });
    // A VM listed on the host whose name has no reservation (made before names were recorded, or Redis lost it).
    expect(await ledger.reserveResize(r, 'h1', 'unrecorded', { vcpus: 1, memory_mb: 0, storage_mb: 0 }, noLimit)).toEqual({ ok: true });
  });

  it('a sweep keeps a resize entry of a listed VM (a create’s is dropped once listed); drops it once the name is another host’s', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    await ledger.reserveResize(r, 'h1', 'a', { vcpus: 1, memory_mb: 0, storage_mb: 0 }, noLimit);
    expect(await ledger.sweep(r, 'h1', new Set(['a']))).toEqual({ n: 0, vcpus: 1, memory_mb: 0, storage_mb: 0 });
    await ledger.forget(r, 'a');
    // Deleted, then its name taken on another host: the old host's resize entry is stale.
    await ledger.reserve(r, 'h2', 'a', need, noLimit);
    expect(await ledger.sweep(r, 'h1', new Set())).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
  });

  it('a sweep drops a resize entry whose VM has no operation in line once the submit grace has passed', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    await created(r, 'a');
    await ledger.reserveResize(r, 'h1', 'a', { vcpus: 1, memory_mb: 0, storage_mb: 0 }, noLimit);
    // Within the grace it counts (its job is being queued) ...
    expect((await ledger.sweep(r, 'h1', new Set(['a']))).vcpus).toBe(1);
    // ... an entry reserved long ago whose job is not in the VM's line any more (removed by hand) does not.
    const key = keys.pendingCreates(env.prefix, r, 'h1');
    await env.redis.hset(key, 'a/resize', JSON.stringify({ n: 0, vcpus: 1, memory_mb: 0, storage_mb: 0, at: Date.now() - 120_000 }));
    expect((await ledger.sweep(r, 'h1', new Set(['a']))).vcpus).toBe(0);
  });
});
