/**
 * A snapshot of the shared real guest, running, through the service: a file written in the guest before
 * the snapshot and removed after it is back once the VM is reverted (disk and memory: the guest goes on
 * running from the snapshot). The guest is left running and ready, with no snapshot, for the other files.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { agent, ensureGuest, guestExec, readGuestFile } from '../support/guest.ts';

const g = inject('guest');
const FILE = '/var/tmp/provisioner-snapshot-test';
const SNAP = `guest-${randomBytes(3).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const api = (path: string, init: RequestInit = {}) =>
  fetch(`${g.url}${path}`, { ...init, headers: { authorization: `Bearer ${g.token}`, 'content-type': 'application/json' } });
const virsh = (...args: string[]) => execFileSync('virsh', ['-q', '-c', g.libvirtUri, ...args], { encoding: 'utf8' }).trim();

async function job(path: string, init: RequestInit): Promise<{ state: string; error: unknown; result: Record<string, unknown> | null }> {
  const r = await api(path, { method: 'POST', ...init });
  expect(r.status).toBe(202);
  const id = ((await r.json()) as { id: string }).id;
  for (const end = Date.now() + 300_000; Date.now() < end; await sleep(500)) {
    const j = (await (await api(`/v1/jobs/${id}`)).json()) as { state: string; error: unknown; result: Record<string, unknown> | null };
    if (['succeeded', 'failed', 'canceled'].includes(j.state)) return j;
  }
  throw new Error(`job ${id} did not end`);
}

afterAll(async () => {
  // Whatever happened, the guest keeps no snapshot of this file (a rebuild refuses VMs with snapshots).
  if (virsh('snapshot-list', g.vm, '--name').split('\n').includes(SNAP)) await job(`/v1/vms/${g.region}/${g.vm}/snapshots/${SNAP}`, { method: 'DELETE' });
});

describe('snapshot of the real guest', () => {
  it('a file removed after the snapshot is back after the revert, and the guest runs on, ready', { timeout: 600_000 }, async () => {
    await ensureGuest(g);
    const content = `before ${SNAP}\n`;
    expect((await guestExec(g.libvirtUri, g.vm, ['/bin/sh', '-c', `printf '%s' '${content}' > ${FILE} && sync`])).code).toBe(0);

    const taken = await job(`/v1/vms/${g.region}/${g.vm}/snapshots`, { body: JSON.stringify({ name: SNAP }) });
    expect(taken.state, JSON.stringify(taken.error)).toBe('succeeded');
    expect(virsh('snapshot-info', g.vm, SNAP)).toMatch(/State:\s+running[\s\S]*Location:\s+internal/);

    expect((await guestExec(g.libvirtUri, g.vm, ['/bin/sh', '-c', `rm -f ${FILE} && sync`])).code).toBe(0);
    await expect(readGuestFile(g.libvirtUri, g.vm, FILE)).rejects.toThrow();

    const reverted = await job(`/v1/vms/${g.region}/${g.vm}/snapshots/${SNAP}/revert`, { body: '{}' });
    expect(reverted.state, JSON.stringify(reverted.error)).toBe('succeeded');
    expect(virsh('domstate', g.vm)).toBe('running');
    // The guest resumes where the snapshot left it: its agent answers and the file is there again.
    for (const end = Date.now() + 60_000; ; await sleep(500)) {
      if (
        await agent(g.libvirtUri, g.vm, 'guest-ping', undefined, 2).then(
          () => true,
          () => Date.now() > end,
        )
      )
        break;
    }
    expect(await readGuestFile(g.libvirtUri, g.vm, FILE)).toBe(content);
    // Its clock came back with its memory: set it from the (host's) RTC again for the files after this one.
    await agent(g.libvirtUri, g.vm, 'guest-set-time').catch(() => undefined);

    const removed = await job(`/v1/vms/${g.region}/${g.vm}/snapshots/${SNAP}`, { method: 'DELETE' });
    expect(removed.state).toBe('succeeded');
    await guestExec(g.libvirtUri, g.vm, ['/bin/rm', '-f', FILE]);
    expect(virsh('snapshot-list', g.vm, '--name')).toBe('');
    const vm = (await (await api(`/v1/vms/${g.region}/${g.vm}`)).json()) as { state: string; guest: { ready: boolean }; snapshots: unknown[] };
    expect(vm).toMatchObject({ state: 'running', guest: { ready: true }, snapshots: [] });
  });
});
