/**
 * The hypervisor library tells when a real guest is ready, as the service will (issue 14): `guestStatus`
 * asks libvirt and the guest agent about many VMs in ONE SSH exec, and `consoleTail` reads the serial
 * console that virtlogd logs to a file the automation user can read. Against the project's shared guest
 * (test/setup/guest.ts) through a real Hypervisor over SSH as the automation user.
 *
 * When this file creates the guest it also follows its boot (pending/agent absent → running → done) and
 * prints when each step was first seen. PROVISIONER_CAPTURE_FIXTURES=DIR writes the raw output of each
 * state seen (the unit tests' fixtures in packages/libvirt/test/fixtures/ were captured so).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type GuestStatus, guestStatusArgv } from '../../packages/libvirt/src/index.ts';
import { ensureGuest } from '../support/guest.ts';
import { makeHypervisor } from '../support/host.ts';

const g = inject('guest');
const host = inject('loopbackHost');
const hv = makeHypervisor(host);
const capture = process.env.PROVISIONER_CAPTURE_FIXTURES;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(() => hv.close());

/** Writes the raw guest-status.sh output of the guest (plus a name that is no domain) for the unit tests. */
async function captureRaw(label: string): Promise<void> {
  if (!capture) return;
  const boundary = 'f'.repeat(32);
  const argv = guestStatusArgv(
    host.libvirt_uri,
    boundary,
    [
      { name: g.vm, agent: true },
      { name: 'no-such-vm-0', agent: true },
    ],
    2,
  );
  writeFileSync(join(capture, `guest-status-${label}.txt`), (await hv.ssh.run(argv)).stdout);
}

describe('guest readiness through the hypervisor library', () => {
  it('guestStatus follows the guest until cloud-init is done, one SSH exec per call', async () => {
    const { created } = await ensureGuest(g);
    const since = created?.submittedAt ?? Date.now();
    const seen = new Map<string, number>();
    const captured = new Set<string>();
    const timings: number[] = [];
    let st: GuestStatus | undefined;
    // Its create was submitted at the run's start: when it is long done, one look is enough.
    const end = Math.max(since + 240_000, Date.now() + 1);
    while (Date.now() < end) {
      const before = hv.ssh.stats.channels;
      const t0 = Date.now();
      st = (await hv.guestStatus([g.vm])).get(g.vm);
      timings.push(Date.now() - t0);
      expect(hv.ssh.stats.channels - before).toBe(1);
      const marks = [`agent ${st?.agent}`, `cloud-init ${st?.cloud_init}`, ...(st?.addresses.some((a) => a.source === 'lease') ? ['lease'] : [])];
      for (const m of marks) if (!seen.has(m)) seen.set(m, Date.now() - since);
      const label = `${st?.agent}-${st?.cloud_init}`;
      if (!captured.has(label)) {
        captured.add(label);
        await captureRaw(label);
      }
      if (st?.cloud_init === 'done' || st?.cloud_init === 'error') break;
      await sleep(1000);
    }
    const steps = [...seen].map(([m, ms]) => `${m} @${(ms / 1000).toFixed(1)}s`).join(', ');
    console.log(
      `guest ${g.vm} (${created ? 'created by this file' : 'already there'}): ${steps}; guestStatus took ${Math.min(...timings)}-${Math.max(...timings)} ms`,
    );
    expect(st).toMatchObject({ state: 'running', agent: 'connected', cloud_init: 'done' });
    expect(st?.cloud_init_errors).toBeUndefined();
  });

  it('reports the lease address, the same one the agent sees on eth0, with its MAC', async () => {
    let st: GuestStatus | undefined;
    for (let i = 0; i < 30; i++) {
      st = (await hv.guestStatus([g.vm])).get(g.vm);
      if (st?.addresses.some((a) => a.source === 'lease')) break;
      await sleep(2000);
    }
    const lease = st?.addresses.find((a) => a.source === 'lease' && a.family === 'ipv4');
    expect(lease?.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const agent = st?.addresses.filter((a) => a.source === 'agent' && a.family === 'ipv4');
    expect(agent).toEqual([{ ip: lease?.ip, family: 'ipv4', mac: lease?.mac, source: 'agent' }]);
    // Loopback is never reported.
    expect(st?.addresses.some((a) => a.ip.startsWith('127.') || a.ip === '::1')).toBe(false);
  });

  it('asks the agent only about VMs not known ready, and answers for names that are no domain', async () => {
    const before = hv.ssh.stats.channels;
    const all = await hv.guestStatus([g.vm, 'no-such-vm-0'], { skipAgent: [g.vm] });
    expect(hv.ssh.stats.channels - before).toBe(1);
    expect(all.get(g.vm)).toMatchObject({ state: 'running', agent: 'unknown', cloud_init: 'unknown' });
    expect(all.get(g.vm)?.addresses.some((a) => a.source === 'lease')).toBe(true);
    expect(all.get('no-such-vm-0')).toEqual({ state: null, agent: 'unknown', cloud_init: 'unknown', addresses: [] });
  });

  it('the serial console is logged to a file the automation user reads, with cloud-init’s last line', async () => {
    const tail = await hv.consoleTail(g.vm, 1 << 20);
    expect(tail?.source).toBe('current');
    expect(tail?.text).toMatch(/Cloud-init v\. \S+ finished at /);
    // Read over SSH as the automation user, not root: its own file, 0640.
    const stat = await hv.ssh.run(['stat', '-c', '%U %a', hv.paths(g.vm).console]);
    expect(stat.stdout.trim()).toBe(`${host.user} 640`);
    const small = await hv.consoleTail(g.vm, 100);
    expect(small?.source).toBe('current');
    expect(Buffer.byteLength(small?.text ?? '')).toBeLessThanOrEqual(100 * 3);
    expect(small?.text.length).toBeLessThanOrEqual(100);
  });
});
