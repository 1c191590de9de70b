import { describe, expect, inject, it } from 'vitest';
import {
  ensureGuest,
  guestExec,
  leaseAddress,
  NONCE_FILE,
  type ReceivedHook,
  RUNCMD_FILE,
  readGuestFile,
  verifyAsReceived,
  waitCloudInit,
} from '../support/guest.ts';

const g = inject('guest');

type Address = { ip: string; family: string; mac: string | null; source: string };
type CreateResult = { addresses: Address[]; guest: { agent: string; cloud_init: string; ready: boolean; ready_at: string } };
/** The cloud-init budget counts from the create's submission (from now when another file made the guest). */
let since = Date.now();

describe('a real guest created through the API', () => {
  it('the create job succeeds and the VM is running', async () => {
    const { created } = await ensureGuest(g);
    if (created) {
      since = created.submittedAt;
      expect(created.job).toMatchObject({ state: 'succeeded', kind: 'create', error: null });
    }
    const r = await fetch(`${g.url}/v1/vms/${g.region}/${g.vm}`, { headers: { authorization: `Bearer ${g.token}` } });
    expect(await r.json()).toMatchObject({ vm_name: g.vm, state: 'running' });
  });

  it('the create waited for the guest: it ended after wait-ready with the address and cloud-init done, and its webhook carries them', async () => {
    // Whichever file of the project created the guest: its create job, as GET shows it.
    const list = await fetch(`${g.url}/v1/jobs?kind=create&vm_name=${g.vm}`, { headers: { authorization: `Bearer ${g.token}` } });
    const [job] = ((await list.json()) as { jobs: Array<Record<string, unknown>> }).jobs;
    expect(job).toMatchObject({ state: 'succeeded', kind: 'create' });
    const steps = job?.steps as Array<{ name: string; state: string }>;
    expect(steps.at(-1)).toMatchObject({ name: 'wait-ready', state: 'succeeded' });
    const result = job?.result as CreateResult;
    expect(result.guest).toMatchObject({ agent: 'connected', cloud_init: 'done', ready: true });
    expect(Date.parse(result.guest.ready_at)).toBeGreaterThan(Date.parse(String(job?.created_at)));
    expect(result.addresses.find((a) => a.source === 'lease' && a.family === 'ipv4')?.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    // The create's webhook (job.succeeded, signed with the token's secret) carries that result, addresses and all.
    let done: { type: string; data: { id: string; result: unknown } } | undefined;
    for (let i = 0; i < 50 && !done; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 200));
      const hooks = (await (await fetch(g.webhookUrl)).json()) as ReceivedHook[];
      const events = hooks.map((h) => verifyAsReceived<NonNullable<typeof done>>(g.webhookSecret, h));
      done = events.find((e) => e.type === 'job.succeeded' && e.data.id === job?.id);
    }
    expect(done?.data.result).toEqual(result);

    // Asked for with webhook_events: vm.ready, with the addresses the guest got, from the create's wait-ready.
    const hooks = (await (await fetch(g.webhookUrl)).json()) as ReceivedHook[];
    const ready = hooks
      .map((h) => verifyAsReceived<{ type: string; data: Record<string, unknown> }>(g.webhookSecret, h))
      .filter((e) => e.type === 'vm.ready' && e.data.vm_name === g.vm);
    expect(ready).toHaveLength(1);
    expect(ready[0]?.data).toMatchObject({ vm_name: g.vm, state: 'running', job_id: job?.id });
    expect(((ready[0]?.data.addresses ?? []) as Array<{ ip: string }>).map((a) => a.ip)).toEqual(expect.arrayContaining(result.addresses.map((a) => a.ip)));
  });

  it('cloud-init finishes from the NoCloud seed without errors', async () => {
    const result = await waitCloudInit(g.libvirtUri, g.vm, Math.max(30_000, 240_000 - (Date.now() - since)), since);
    console.log(`guest ${g.vm}: cloud-init done ${Math.round(result.elapsedMs / 1000)} s after the create was submitted`);
    expect(result.errors).toEqual([]);
    // The seed the service attached (a read-only virtio disk), not a fallback datasource.
    expect(result.datasource).toMatch(/DataSourceNoCloud \[seed=\/dev\/vd/);
  });

  it('the user-data ran: write_files and runcmd both wrote this run’s nonce', async () => {
    expect((await readGuestFile(g.libvirtUri, g.vm, NONCE_FILE)).trim()).toBe(g.nonce);
    expect((await readGuestFile(g.libvirtUri, g.vm, RUNCMD_FILE)).trim()).toBe(g.nonce);
  });

  it('the test’s SSH key is authorized for the default user and sshd runs', async () => {
    const keys = await readGuestFile(g.libvirtUri, g.vm, '/home/debian/.ssh/authorized_keys');
    expect(keys.split('\n').map((l) => l.trim())).toContain(g.publicKey);
    const sshd = await guestExec(g.libvirtUri, g.vm, ['/bin/systemctl', 'is-active', 'ssh.service']);
    expect(sshd.stdout.trim()).toBe('active');
  });

  it('the guest leased an address on the host network, the same one it has on eth0', async () => {
    let lease: string | null = null;
    for (let i = 0; i < 30 && !lease; i++) {
      lease = await leaseAddress(g.libvirtUri, g.vm);
      if (!lease) await new Promise((r) => setTimeout(r, 2000));
    }
    expect(lease).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const ifaces = await guestExec(g.libvirtUri, g.vm, ['/sbin/ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(ifaces.stdout).toContain(`inet ${lease}/`);
  });

  it('the serial console is the guest’s console, with a login on it', async () => {
    expect(await readGuestFile(g.libvirtUri, g.vm, '/proc/cmdline')).toContain('console=ttyS0');
    const getty = await guestExec(g.libvirtUri, g.vm, ['/bin/systemctl', 'is-active', 'serial-getty@ttyS0.service']);
    expect(getty.stdout.trim()).toBe('active');
  });
});
