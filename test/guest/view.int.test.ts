/**
 * What the API shows of the shared real guest (issue 14): its addresses (the NAT network's lease, and the
 * guest agent's) and its readiness in GET /v1/vms/{region}/{name}, kept by the inventory refresh, and its
 * serial console through GET …/console. Reuses the project's one guest (ensureGuest), boots no other.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import { ensureGuest } from '../support/guest.ts';

const g = inject('guest');
const api = (path: string, token = g.token) => fetch(`${g.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
const virsh = (...args: string[]) => execFileSync('virsh', ['-q', '-c', g.libvirtUri, ...args], { encoding: 'utf8' }).trim();

type Address = { ip: string; family: string; mac: string | null; source: string };
type Vm = { state?: string; ip: string | null; addresses: Address[]; guest: { agent: string; cloud_init: string; ready: boolean; ready_at: string | null } };

describe('the real guest through the API', () => {
  it('GET /v1/vms/{region}/{name} shows its lease address (the agent’s too), ip the first IPv4, and the guest ready', async () => {
    await ensureGuest(g);
    const r = await api(`/v1/vms/${g.region}/${g.vm}?refresh=true`);
    expect(r.status).toBe(200);
    const vm = (await r.json()) as Vm;
    const lease = vm.addresses.filter((a) => a.source === 'lease' && a.family === 'ipv4');
    const agent = vm.addresses.filter((a) => a.source === 'agent' && a.family === 'ipv4');
    expect(lease.length, JSON.stringify(vm.addresses)).toBeGreaterThan(0);
    expect(agent.map((a) => a.ip)).toContain(lease[0]?.ip);
    expect(lease[0]?.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(vm.ip).toBe(vm.addresses.find((a) => a.family === 'ipv4')?.ip);
    expect(vm.ip).toBe(lease[0]?.ip);
    expect(vm.guest).toMatchObject({ agent: 'connected', cloud_init: 'done', ready: true });
    expect(Date.parse(vm.guest.ready_at ?? '')).not.toBeNaN();

    // Once ready, later listings skip its agent and keep what it said: the view stays the same.
    const again = (await (await api(`/v1/vms/${g.region}/${g.vm}?refresh=true`)).json()) as Vm;
    expect(again.guest).toEqual(vm.guest);
    expect(again.addresses).toEqual(vm.addresses);
    // The list shows the same.
    const list = (await (await api(`/v1/vms?region=${g.region}`)).json()) as { vms: Array<Vm & { vm_name: string }> };
    expect(list.vms.find((v) => v.vm_name === g.vm)?.guest.ready).toBe(true);
  });

  it('a paused guest keeps its addresses and readiness in the inventory, and has them when it runs again', async () => {
    await ensureGuest(g);
    const before = (await (await api(`/v1/vms/${g.region}/${g.vm}?refresh=true`)).json()) as Vm;
    expect(before.addresses.some((a) => a.source === 'agent')).toBe(true);
    virsh('suspend', g.vm);
    try {
      expect(virsh('domstate', g.vm)).toBe('paused');
      const paused = (await (await api(`/v1/vms/${g.region}/${g.vm}?refresh=true`)).json()) as Vm;
      expect(paused.state).toBe('paused');
      expect(paused.addresses).toEqual(before.addresses);
      expect(paused.ip).toBe(before.ip);
      expect(paused.guest).toEqual(before.guest);
    } finally {
      if (virsh('domstate', g.vm) === 'paused') virsh('resume', g.vm);
    }
    const again = (await (await api(`/v1/vms/${g.region}/${g.vm}?refresh=true`)).json()) as Vm;
    expect(again.state).toBe('running');
    expect(again.addresses).toEqual(before.addresses);
    expect(again.guest).toEqual(before.guest);
  });

  it('GET …/console holds cloud-init’s "finished at" line, as text/plain, not cached', async () => {
    await ensureGuest(g);
    const r = await api(`/v1/vms/${g.region}/${g.vm}/console?tail_bytes=1048576`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(await r.text()).toMatch(/Cloud-init v\. \S+ finished at /);
    const small = await api(`/v1/vms/${g.region}/${g.vm}/console?tail_bytes=100`);
    expect(Buffer.byteLength(await small.text())).toBeLessThanOrEqual(100 * 3);
  });
});
