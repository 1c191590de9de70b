/**
 * Drift on a real host (the session libvirt of a user of this file's own, through an sshd of its own, so
 * no other file's VMs or disks are there while it runs): leftovers
 * made by hand — stray disk and seed files older than the grace period, a managed domain whose disk was
 * removed, a name reserved with no job — are reported by the inventory refresh and removed by the
 * drift-clean job, while files younger than the grace period, a VM with a job in its line and an
 * unmanaged domain are left alone.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hypervisor } from '@provisioner/libvirt';
import { DomainNotFoundError } from '@provisioner/libvirt';
import { keys } from '@provisioner/store/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { main } from '../../apps/cli/src/main.ts';
import { type ImageServer, type LoopbackHost, makeHypervisor, makeImages, ownSessionHost, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

let host: LoopbackHost;
let dir: string;
let own: Awaited<ReturnType<typeof ownSessionHost>> | undefined;
let stack: Stack;
let hv: Hypervisor;
let images: ImageServer;
const made: string[] = [];

/** A file in the disks directory, owned by the automation user, last modified `ago` (a `touch -d` date). */
function leftover(name: string, ago: string | null): string {
  const p = join(dir, name);
  writeFileSync(p, 'leftover');
  execFileSync('chown', [`${host.user}:${host.user}`, p]);
  if (ago) execFileSync('touch', ['-d', ago, p]);
  return p;
}

interface Drift {
  observed_at: string | null;
  items: Array<{ kind: string; vm_name: string; path: string | null }>;
}

async function drift(): Promise<Drift> {
  // A refresh of the host computes it (the API only reads what the workers stored).
  await stack.fetch('/v1/vms?refresh=true');
  const r = await stack.fetch('/v1/regions/r1/hosts/h1/drift');
  expect(r.status).toBe(200);
  return (await r.json()) as Drift;
}

beforeAll(async () => {
  own = await ownSessionHost(inject('loopbackHost'), 'prov-drift');
  host = own.host;
  dir = host.disks_dir;
  hv = makeHypervisor(host);
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 64 }]));
  stack = await startStack({ host, images: { tiny: { url: images.url('tiny.qcow2') } } });
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  for (const n of made) await hv?.undefine(n).catch(() => undefined);
  await images?.close();
  await hv?.close();
  await own?.stop();
});

describe('drift', () => {
  it('reports what nobody accounts for, and the clean job removes exactly that, never an unmanaged domain, a busy VM or a young file', async () => {
    const [stray, young, busy, unmanaged, broken, reserved] = ['stray', 'young', 'busy', 'unmgd', 'broken', 'rsvd'].map((p) => uniqueName(p)) as string[] as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    made.push(unmanaged, broken);
    const strayFiles = [leftover(`${stray}.qcow2`, '1 hour ago'), leftover(`${stray}-seed.iso`, '1 hour ago'), leftover(`${stray}.console.log`, '1 hour ago')];
    // A create in flight: its files are younger than the grace period (10 minutes by default) ...
    const youngFile = leftover(`${young}.qcow2`, '2 minutes ago');
    // ... or its VM has a job queued or running (in its line of operations).
    const busyFile = leftover(`${busy}.qcow2`, '1 hour ago');
    await stack.redis.zadd(keys.vmOps(stack.prefix, 'r1', busy), 1, 'job_inflight');
    // A domain this service did not create, with an old file of its name: not ours.
    const xml = join(dir, `${unmanaged}.xml`);
    writeFileSync(
      xml,
      `<domain type='qemu'><name>${unmanaged}</name><memory unit='MiB'>32</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>`,
    );
    execFileSync('chmod', ['0644', xml]);
    await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'define', xml]);
    execFileSync('rm', ['-f', xml]);
    const unmanagedFile = leftover(`${unmanaged}.qcow2`, '1 hour ago');
    // A managed VM whose disk went away.
    const c = (await (
      await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: broken, region_name: 'r1', instance_type: 'tiny', image: 'tiny' }) })
    ).json()) as {
      id: string;
    };
    expect((await waitJob(stack, c.id)).state).toBe('succeeded');
    const stop = (await (await stack.fetch(`/v1/vms/r1/${broken}/stop`, { method: 'POST', body: JSON.stringify({ force: true }) })).json()) as { id: string };
    expect((await waitJob(stack, stop.id)).state).toBe('succeeded');
    execFileSync('rm', ['-f', join(dir, `${broken}.qcow2`)]);
    // A name reserved for the host with no job and no domain.
    await stack.redis.set(keys.vmHost(stack.prefix, 'r1', reserved), 'h1');

    const before = await drift();
    const mine = (d: Drift) => d.items.filter((i) => [stray, young, busy, unmanaged, broken, reserved].includes(i.vm_name));
    expect(new Set(mine(before).map((i) => `${i.kind} ${i.vm_name} ${i.path}`))).toEqual(
      new Set([
        ...strayFiles.map((p) => `file-without-domain ${stray} ${p}`),
        `domain-without-disk ${broken} ${join(dir, `${broken}.qcow2`)}`,
        `name-without-vm ${reserved} null`,
      ]),
    );
    // The CLI shows the same report, and cordons and uncordons.
    const cli = async (...argv: string[]) => {
      let out = '';
      const io = {
        env: { PROVISIONER_URL: stack.url, PROVISIONER_TOKEN: stack.tokens.admin },
        stdout: { write: (t: string) => (out += t) },
        stderr: { write: () => true },
      };
      return { code: await main(argv, io), out };
    };
    const shown = await cli('hosts', 'drift', 'r1/h1', '--json');
    expect(shown.code).toBe(0);
    expect((JSON.parse(shown.out) as Drift).items).toEqual(before.items);
    expect((await cli('hosts', 'drift', 'h1', '--region', 'r1')).out).toContain(`name-without-vm      ${reserved}`);
    expect((await cli('hosts', 'cordon', 'h1', '--region', 'r1', '--reason', 'drift')).out).toMatch(/^r1\/h1: cordoned by admin at \S+ \(drift\)\n$/);
    expect((await cli('hosts', 'uncordon', 'r1/h1')).out).toBe('r1/h1: not cordoned\n');
    expect((await cli('hosts', 'reboot', 'r1/h1')).code).toBe(2);
    // Non-admin tokens see none of it.
    expect((await stack.fetch('/v1/regions/r1/hosts/h1/drift', { token: stack.tokens.write })).status).toBe(403);
    expect((await stack.fetch('/v1/regions/r1/hosts/h1/drift/clean', { method: 'POST', token: stack.tokens.write })).status).toBe(403);

    const r = await stack.fetch('/v1/regions/r1/hosts/h1/drift/clean', { method: 'POST' });
    expect(r.status).toBe(202);
    expect(r.headers.get('location')).toMatch(/^\/v1\/jobs\//);
    const job = await waitJob(stack, ((await r.json()) as { id: string }).id);
    expect(job.state).toBe('succeeded');
    const removed = (job.result as { removed: Array<{ kind: string; vm_name: string; path: string | null }> }).removed;
    // Exactly what was listed went (the host's other leftovers, if any, were listed too).
    expect(new Set(removed.map((i) => `${i.kind} ${i.vm_name} ${i.path}`))).toEqual(new Set(before.items.map((i) => `${i.kind} ${i.vm_name} ${i.path}`)));
    for (const p of strayFiles) expect(existsSync(p)).toBe(false);
    await expect(hv.getDomain(broken)).rejects.toBeInstanceOf(DomainNotFoundError);
    expect(await stack.redis.get(keys.vmHost(stack.prefix, 'r1', reserved))).toBeNull();
    // Left alone: the young file, the busy VM's file, the unmanaged domain and its file.
    for (const p of [youngFile, busyFile, unmanagedFile]) expect(existsSync(p)).toBe(true);
    expect((await hv.getDomain(unmanaged)).managed).toBe(false);
    expect(mine(await drift())).toEqual([]);
    for (const p of [youngFile, busyFile, unmanagedFile]) execFileSync('rm', ['-f', p]);
  }, 300_000);
});
