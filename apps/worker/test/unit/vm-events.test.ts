/** vmEvents: which webhooks a change of a VM's inventory record means (pure). */
import { GUEST_UNKNOWN, type InventoryVm } from '@provisioner/contracts';
import { describe, expect, it } from 'vitest';
import { vmEvents } from '../../src/vm-events.ts';

const NOW = '2026-12-01T03:00:00.000Z';
function vm(o: Partial<InventoryVm> = {}): InventoryVm {
  return {
    name: 'amber',
    uuid: '0b1c2d3e-0000-4000-8000-000000000001',
    dom_id: 1,
    state: 'running',
    managed: true,
    tags: {},
    vcpus: 1,
    memory_mb: 512,
    image: 'tiny',
    instance_type: 'small',
    snapshots: [],
    addresses: [],
    ip: null,
    guest: GUEST_UNKNOWN,
    ...o,
  } as InventoryVm;
}
const READY = { agent: 'connected', cloud_init: 'done', ready: true, ready_at: NOW } as InventoryVm['guest'];
const ADDR = [{ ip: '192.168.122.7', family: 'ipv4', source: 'lease', mac: '52:54:00:00:00:01' }] as unknown as InventoryVm['addresses'];
const refresh = { stateChanges: true, hostKnown: true, now: NOW };

describe('vmEvents', () => {
  it('vm.ready once, when the same domain was not ready before, with its addresses', () => {
    const [e, ...rest] = vmEvents('r1', 'h1', vm(), vm({ guest: READY, addresses: ADDR, ip: '192.168.122.7' }), refresh);
    expect(rest).toEqual([]);
    expect(e).toEqual({
      type: 'vm.ready',
      instance: vm().uuid,
      data: {
        region: 'r1',
        host: 'h1',
        vm_name: 'amber',
        uuid: vm().uuid,
        state: 'running',
        addresses: [{ ip: '192.168.122.7', family: 'ipv4', source: 'lease' }],
        ip: '192.168.122.7',
        observed_at: NOW,
      },
    });
    // Already ready: nothing again.
    expect(vmEvents('r1', 'h1', vm({ guest: READY }), vm({ guest: READY }), refresh)).toEqual([]);
    // Another domain under the same name (deleted and created again): its readiness is news.
    expect(vmEvents('r1', 'h1', vm({ guest: READY, uuid: 'other' }), vm({ guest: READY }), refresh).map((x) => x.type)).toEqual(['vm.ready']);
  });

  it("a host's first listing announces nothing of VMs it had never seen (every VM would look new)", () => {
    expect(vmEvents('r1', 'h1', undefined, vm({ guest: READY }), { ...refresh, hostKnown: false })).toEqual([]);
    expect(vmEvents('r1', 'h1', undefined, vm({ guest: READY }), refresh).map((x) => x.type)).toEqual(['vm.ready']);
  });

  it('vm.state_changed with the state before, only for the same domain and only when asked (a refresh, not an operation)', () => {
    const [e] = vmEvents('r1', 'h1', vm(), vm({ state: 'shut off' }), refresh);
    expect(e).toMatchObject({ type: 'vm.state_changed', data: { state: 'shut off', previous_state: 'running' } });
    expect(e?.instance).toBe(`${vm().uuid}:running>shut off:${NOW}`);
    expect(vmEvents('r1', 'h1', vm(), vm({ state: 'shut off' }), { ...refresh, stateChanges: false })).toEqual([]);
    expect(vmEvents('r1', 'h1', vm({ uuid: 'other' }), vm({ state: 'shut off' }), refresh)).toEqual([]);
    expect(vmEvents('r1', 'h1', vm(), vm(), refresh)).toEqual([]);
  });
});
