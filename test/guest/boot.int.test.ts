/**
 * A real guest created through the service boots and runs its user-data: the create job succeeds, cloud-init
 * finishes without errors from the service's NoCloud seed, the guest leases an address on libvirt's network,
 * and both the file written by write_files and the one written by runcmd hold this run's nonce. The guest is
 * the project's shared one (test/setup/guest.ts); its delete and the host's cleanliness are checked there.
 *
 * Budget (2 cores, software emulation): the create job ≤ 3 min (a 400 MiB image download on a first run),
 * cloud-init done ≤ 4 min after the create was submitted (measured 75-95 s).
 */
import { describe, expect, inject, it } from 'vitest';
import { ensureGuest, guestExec, leaseAddress, NONCE_FILE, RUNCMD_FILE, readGuestFile, waitCloudInit } from '../support/guest.ts';

const g = inject('guest');
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

  it('cloud-init finishes from the NoCloud seed without errors', async () => {
    const result = await waitCloudInit(g.libvirtUri, g.vm, 240_000 - (Date.now() - since), since);
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
