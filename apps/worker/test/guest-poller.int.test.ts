/**
 * GuestPoller against the loopback host through the real SSH layer, counting the remote commands it runs:
 * every VM asked about at once is looked at in one exec, execs are at least a tick apart whatever the
 * number of waiters, and a canceled look ends at once while the others are answered.
 */
import { CanceledError, type CommandObservation } from '@provisioner/libvirt';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { makeHypervisor, uniqueName } from '../../../test/support/host.ts';
import { GuestPoller } from '../src/guest-poller.ts';

const host = inject('loopbackHost');
const execs: { command: string; at: number }[] = [];
const hv = makeHypervisor(host, { onCommand: (c: CommandObservation) => execs.push({ command: c.command, at: Date.now() }) });
const TICK = 400;

afterAll(async () => {
  await hv.close();
});

describe('GuestPoller', () => {
  it('looks at every VM asked about at once in one exec, and answers each', async () => {
    const poller = new GuestPoller(hv, TICK, 4096);
    // Names of no domain: the host reports each as gone (state null), which is what a waiter is told.
    const names = Array.from({ length: 8 }, () => uniqueName('gp'));
    execs.length = 0;
    const seen = await Promise.all(names.map((n) => poller.look(n)));
    expect(execs.map((e) => e.command)).toEqual(['guest-ready']);
    expect(seen).toEqual(names.map(() => ({ state: null, agent: 'unknown', cloud_init: 'unknown', addresses: [] })));
  });

  it('runs at most one exec per tick however many waiters come back', async () => {
    const poller = new GuestPoller(hv, TICK, 4096);
    const names = Array.from({ length: 12 }, () => uniqueName('gp'));
    execs.length = 0;
    const start = Date.now();
    // Each waiter looks again as soon as it is answered (as a create's job comes back), for ~2.5 s.
    await Promise.all(
      names.map(async (n, i) => {
        await new Promise((r) => setTimeout(r, i * 37));
        while (Date.now() - start < 2500) await poller.look(n);
      }),
    );
    const elapsed = Date.now() - start;
    const runs = execs.filter((e) => e.command === 'guest-ready');
    expect(runs.length).toBe(execs.length);
    // One exec per tick at most (the first at once), not one per waiter per look.
    expect(runs.length).toBeLessThanOrEqual(Math.ceil(elapsed / TICK) + 1);
    // Runs a tick apart (the poller paces their starts; the SSH layer stamps each a few ms later, by load): two
    // runs in one tick would be about 0 ms apart.
    for (let i = 1; i < runs.length; i++) expect((runs[i]?.at ?? 0) - (runs[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(TICK / 2);
  });

  it('ends a canceled look at once and answers the others', async () => {
    const poller = new GuestPoller(hv, TICK, 4096);
    const [a, b] = [uniqueName('gp'), uniqueName('gp')];
    await poller.look(a); // the next exec is a tick away
    const ac = new AbortController();
    const canceled = poller.look(a, ac.signal);
    const other = poller.look(b);
    ac.abort();
    await expect(canceled).rejects.toBeInstanceOf(CanceledError);
    await expect(other).resolves.toMatchObject({ state: null });
    await expect(poller.look(a, ac.signal)).rejects.toBeInstanceOf(CanceledError);
  });
});
