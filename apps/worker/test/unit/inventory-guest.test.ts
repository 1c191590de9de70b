/** How a listing's lease addresses and guest status become the inventory's addresses and guest (guestFields). */
import { GUEST_UNKNOWN, type VmAddress } from '@provisioner/contracts';
import type { GuestStatus } from '@provisioner/libvirt';
import { describe, expect, it } from 'vitest';
import { agentKnown, guestFields } from '../../src/inventory.ts';

const MAC = '52:54:00:5d:61:3e';
const NOW = '2026-01-05T10:15:00.000Z';
const lease: VmAddress = { ip: '192.168.122.192', family: 'ipv4', mac: MAC, source: 'lease' };
const agent4: VmAddress = { ...lease, source: 'agent' };
const agent6: VmAddress = { ip: 'fe80::5054:ff:fe5d:613e', family: 'ipv6', mac: MAC, source: 'agent' };
const status = (s: Partial<GuestStatus>): GuestStatus => ({ state: 'running', agent: 'connected', cloud_init: 'done', addresses: [], ...s });
const running = (addresses: VmAddress[], macs = [MAC]) => ({ state: 'running', macs, addresses });

describe('guestFields', () => {
  it('ready once cloud-init is done and an address is known: lease first, then the agent’s, the lease repeated by the agent query kept once', () => {
    const g = status({ addresses: [lease, agent4, agent6] });
    const f = guestFields(running([lease]), g, undefined, NOW);
    expect(f.addresses).toEqual([lease, agent4, agent6]);
    expect(f.ip).toBe('192.168.122.192');
    expect(f.guest).toEqual({ agent: 'connected', cloud_init: 'done', ready: true, ready_at: NOW });
  });

  it('not ready while cloud-init runs, nor when it is done but a VM with a NIC has no address yet', () => {
    expect(guestFields(running([lease]), status({ cloud_init: 'running' }), undefined, NOW).guest).toEqual({
      agent: 'connected',
      cloud_init: 'running',
      ready: false,
      ready_at: null,
    });
    expect(guestFields(running([]), status({}), undefined, NOW).guest.ready).toBe(false);
    // Without a NIC there is no address to wait for.
    expect(guestFields(running([], []), status({}), undefined, NOW).guest).toMatchObject({ ready: true, ready_at: NOW });
  });

  it('a bridged guest (no lease): the agent’s address makes it ready and is the ip; kept while the agent is no longer asked', () => {
    const first = guestFields(running([]), status({ addresses: [agent4] }), undefined, NOW);
    expect(first).toMatchObject({ ip: agent4.ip, addresses: [agent4], guest: { ready: true } });
    // Ready VMs are skipped by the next listing's agent calls: what the agent said last stays.
    const later = guestFields(running([]), undefined, first, '2026-01-05T11:00:00.000Z');
    expect(later).toEqual(first);
  });

  it('stays ready (ready_at kept) when asked again and cloud-init reads otherwise; a stopped VM has only its lease and no agent', () => {
    const prev = { addresses: [lease, agent4], guest: { agent: 'connected' as const, cloud_init: 'done' as const, ready: true, ready_at: NOW } };
    expect(guestFields(running([lease]), status({ agent: 'absent', cloud_init: 'unknown' }), prev, 'later').guest).toEqual({
      agent: 'absent',
      cloud_init: 'unknown',
      ready: true,
      ready_at: NOW,
    });
    const stopped = guestFields({ state: 'shut off', macs: [MAC], addresses: [lease] }, undefined, prev, 'later');
    expect(stopped.addresses).toEqual([lease]);
    expect(stopped.guest).toEqual({ ...prev.guest, agent: 'absent' });
  });

  it('a paused VM (or one suspended to RAM) keeps its addresses and agent; running again, they are as before', () => {
    const prev = { addresses: [lease, agent4, agent6], guest: { agent: 'connected' as const, cloud_init: 'done' as const, ready: true, ready_at: NOW } };
    for (const state of ['paused', 'pmsuspended']) {
      const paused = guestFields({ state, macs: [MAC], addresses: [lease] }, undefined, prev, 'later');
      expect(paused, state).toEqual({ addresses: [lease, agent4, agent6], ip: lease.ip, guest: prev.guest });
      // An operation's read of the one domain has no leases: the last listing's are kept, the agent's too.
      expect(guestFields({ state, macs: [MAC], addresses: [] }, undefined, prev, 'later').addresses).toEqual([agent4, agent6]);
      // Resumed: a ready VM whose agent addresses were kept is not asked again, and shows them.
      expect(agentKnown([{ name: 'p', state: 'running', ...paused }])).toEqual(['p']);
      expect(guestFields(running([lease]), undefined, paused, 'later')).toEqual(paused);
    }
  });

  it('a running VM not asked and never seen: lease addresses only, guest unknown', () => {
    expect(guestFields(running([lease]), undefined, undefined, NOW)).toEqual({ addresses: [lease], ip: lease.ip, guest: GUEST_UNKNOWN });
  });
});

describe('agentKnown: whose agent a refresh skips', () => {
  const ready = { agent: 'connected', cloud_init: 'done', ready: true, ready_at: NOW } as const;
  it('skips ready VMs whose agent addresses are kept, and stopped ready ones; asks the not-ready and those that lost them', () => {
    const vms = [
      { name: 'kept', state: 'running', guest: ready, addresses: [lease, agent4] },
      { name: 'stopped', state: 'shut off', guest: ready, addresses: [] },
      // Ready, running again after a stop or a snapshot revert: only the lease is known, its agent's addresses were dropped.
      { name: 'lost', state: 'running', guest: ready, addresses: [lease] },
      { name: 'booting', state: 'running', guest: GUEST_UNKNOWN, addresses: [lease] },
    ];
    expect(agentKnown(vms)).toEqual(['kept', 'stopped']);
  });
});
