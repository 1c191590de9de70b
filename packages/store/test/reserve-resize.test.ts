/** VmLedger.reserveResize / releaseResize (reservePending in its resize mode) and the sweep, against the machine's Redis. */
import { describe, expect, it } from 'vitest';
import { keys } from '../src/keys.ts';
import { VmLedger } from '../src/vm-ledger.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('resize');
const need = { vcpus: 2, memory_mb: 1024, storage_mb: 4096 };
const noLimit = { n: null, vcpus: null, memory_mb: null, storage_mb: null };
let region = 0;
const fresh = () => ({ ledger: new VmLedger(env.redis, env.prefix), r: `r${++region}` });

describe('reserveResize', () => {
  it('counts the extra room of a VM reserved for the host (no VM added, shrinking parts as 0) and gives it all back', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    await ledger.release(r, 'h1', 'a'); // its create ended: listed now
    expect(await ledger.reserveResize(r, 'h1', 'a', { vcpus: 2, memory_mb: -512, storage_mb: 0 }, noLimit)).toEqual({ ok: true });
    expect((await ledger.totals(r, ['h1'])).get('h1')).toEqual({ n: 0, vcpus: 2, memory_mb: 0, storage_mb: 0 });
    // Zeros in the entry are taken off as zeros (Lua's -0 is no integer to HINCRBY).
    await ledger.releaseResize(r, 'h1', 'a');
    expect((await ledger.totals(r, ['h1'])).get('h1')).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
    expect(await env.redis.hlen(keys.pendingCreates(env.prefix, r, 'h1'))).toBe(0);
  });

  it('refuses past a limit (only for what it needs), a second resize of the VM, and a VM not reserved for the host', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    // The host is at its VM cap (n limit 0): a resize adds no VM, so that does not stop it.
    const limits = { n: 0, vcpus: 3, memory_mb: null, storage_mb: null };
    expect(await ledger.reserveResize(r, 'h1', 'a', { vcpus: 2, memory_mb: 0, storage_mb: 0 }, limits)).toEqual({ ok: false, reason: 'full', field: 'vcpus' });
    expect(await ledger.reserveResize(r, 'h1', 'a', { vcpus: 1, memory_mb: 0, storage_mb: 0 }, limits)).toEqual({ ok: true });
    expect(await ledger.reserveResize(r, 'h1', 'a', { vcpus: 0, memory_mb: 0, storage_mb: 0 }, noLimit)).toEqual({ ok: false, reason: 'busy' });
    expect(await ledger.reserveResize(r, 'h2', 'a', { vcpus: 1, memory_mb: 0, storage_mb: 0 }, noLimit)).toEqual({ ok: false, reason: 'gone' });
    expect(await ledger.reserveResize(r, 'h1', 'nobody', { vcpus: 1, memory_mb: 0, storage_mb: 0 }, noLimit)).toEqual({ ok: false, reason: 'gone' });
    expect((await ledger.totals(r, ['h1'])).get('h1')).toEqual({ n: 1, vcpus: 3, memory_mb: 1024, storage_mb: 4096 });
  });

  it('a sweep keeps a resize entry of a listed VM (a create’s is dropped once listed) until its VM is gone', async () => {
    const { ledger, r } = fresh();
    await ledger.reserve(r, 'h1', 'a', need, noLimit);
    await ledger.reserveResize(r, 'h1', 'a', { vcpus: 1, memory_mb: 0, storage_mb: 0 }, noLimit);
    expect(await ledger.sweep(r, 'h1', new Set(['a']))).toEqual({ n: 0, vcpus: 1, memory_mb: 0, storage_mb: 0 });
    await ledger.forget(r, 'a');
    expect(await ledger.sweep(r, 'h1', new Set())).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
  });
});
