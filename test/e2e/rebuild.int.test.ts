/**
 * Rebuild (issue 15, item 1) end to end, on blank-disk VMs of the real loopback host, checked on the host
 * itself: the domain keeps its UUID and MAC (`virsh domuuid`, `domiflist`), its disk is a fresh overlay on
 * the new image (`qemu-img info`), its power state is kept; a failed download leaves it as it was;
 * snapshots refuse a rebuild (409, or the job when the inventory does not know them yet) unless
 * `delete_snapshots`; owner scoping and Idempotency-Key replay.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { domainMetadataXml } from '@provisioner/libvirt';
import { InventoryStore } from '@provisioner/store';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
let stack: Stack;
let images: ImageServer;
const made: string[] = [];
const imgA = uniqueName('rba');
const imgB = uniqueName('rbb');
const broken = uniqueName('rbx');
const alice = randomBytes(18).toString('base64url');
const bob = randomBytes(18).toString('base64url');

type JobBody = { id: string; kind: string; state: string; steps: Array<{ name: string; state: string }>; error: { code: string; message: string } | null };

beforeAll(async () => {
  // Two images of different content (so different cache entries and backing files).
  images = await startImageServer(
    makeImages([
      { name: 'a.qcow2', sizeMiB: 64 },
      { name: 'b.qcow2', sizeMiB: 96 },
    ]),
  );
  stack = await startStack({
    host,
    images: { [imgA]: { url: images.url('a.qcow2') }, [imgB]: { url: images.url('b.qcow2') }, [broken]: { url: images.url('status/404') } },
    // A NIC, so that there is a MAC to keep.
    h1: { network: 'network:default' },
    moreTokens: [
      { name: 'alice', token: alice, scopes: ['read', 'write'], owner: 'alice' },
      { name: 'bob', token: bob, scopes: ['read', 'write'], owner: 'bob' },
    ],
  });
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await images?.close();
  await hv.close();
});

const virsh = (...args: string[]) => execFileSync('virsh', ['-q', '-c', host.libvirt_uri, ...args], { encoding: 'utf8' }).trim();
const macs = (name: string) => [...virsh('domiflist', name).matchAll(/([0-9a-f]{2}(?::[0-9a-f]{2}){5})/g)].map((m) => m[1]);
const backingFile = (name: string): string | null => {
  const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', hv.paths(name).disk], { encoding: 'utf8' })) as Record<string, unknown>;
  return (info['full-backing-filename'] ?? info['backing-filename'] ?? null) as string | null;
};
const cachedPath = (file: string) =>
  join(
    host.images_dir,
    `sha256-${createHash('sha256')
      .update(readFileSync(join(images.dir, file)))
      .digest('hex')}`,
  );
/** Files of the VM's rebuilds still in the disks directory (a rebuild's new disk or seed before its swap). */
const leftovers = (name: string) => readdirSync(host.disks_dir).filter((f) => f.startsWith(`${name}.rebuild-`) || f.startsWith(`${name}-seed.rebuild-`));

async function createVm(image: string, tags: Record<string, string> = {}): Promise<string> {
  const name = uniqueName('rb');
  made.push(name);
  const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image, tags }) });
  expect(r.status, await r.clone().text()).toBe(202);
  const job = (await waitJob(stack, ((await r.json()) as JobBody).id)) as unknown as JobBody;
  expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
  return name;
}

async function rebuild(name: string, body: Record<string, unknown>, init: { token?: string; key?: string } = {}): Promise<Response> {
  return stack.fetch(`/v1/vms/r1/${name}/rebuild`, {
    method: 'POST',
    body: JSON.stringify(body),
    ...(init.token ? { token: init.token } : {}),
    ...(init.key ? { headers: { 'idempotency-key': init.key } } : {}),
  });
}

async function rebuilt(r: Response): Promise<JobBody> {
  expect(r.status, await r.clone().text()).toBe(202);
  return (await waitJob(stack, ((await r.json()) as JobBody).id)) as unknown as JobBody;
}

describe('rebuild', () => {
  it('onto another image: same UUID, MAC, tags and type, a fresh disk on the new image, still running; the view shows the image; Idempotency-Key replays', async () => {
    const name = await createVm(imgA, { owner: 'alice', team: 'x' });
    const uuid = virsh('domuuid', name);
    const mac = macs(name);
    expect(mac).toHaveLength(1);
    expect(backingFile(name)).toBe(cachedPath('a.qcow2'));
    expect(virsh('domstate', name)).toBe('running');

    // As if its guest had been ready (the blank disk never is): the rebuilt VM's new guest must not inherit it.
    const inv = new InventoryStore(stack.redis, stack.prefix);
    const before = (await inv.entry('r1', 'h1'))?.vms.find((v) => v.name === name);
    if (!before) expect.fail('the VM is not in the inventory');
    await inv.patchVm('r1', 'h1', name, { ...before, guest: { agent: 'connected', cloud_init: 'done', ready: true, ready_at: new Date().toISOString() } });

    const key = randomBytes(8).toString('hex');
    const first = await rebuild(name, { image: imgB, force: true }, { key });
    const replay = await rebuild(name, { image: imgB, force: true }, { key });
    expect(replay.status).toBe(202);
    expect(((await replay.clone().json()) as JobBody).id).toBe(((await first.clone().json()) as JobBody).id);
    const job = await rebuilt(first);
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.kind).toBe('rebuild');
    expect(job.steps.map((s) => s.name)).toEqual(['fetch-image', 'create-disk', 'create-seed', 'stop', 'swap', 'start']);
    expect(job.steps.every((s) => s.state === 'succeeded')).toBe(true);

    // The host: same domain, its disk now on image B, running again, nothing left beside it.
    expect(virsh('domuuid', name)).toBe(uuid);
    expect(macs(name)).toEqual(mac);
    expect(backingFile(name)).toBe(cachedPath('b.qcow2'));
    expect(virsh('domstate', name)).toBe('running');
    const d = await hv.getDomain(name);
    expect(d).toMatchObject({ image: imgB, instanceType: 'tiny', tags: { owner: 'alice', team: 'x' } });
    expect(leftovers(name)).toEqual([]);

    // The swap run again, as the job's retry does after a worker killed during the start that follows it:
    // the disk is moved already and the domain runs on it, which is the swap done; only its metadata is written again.
    expect(d.rebuiltBy).toBe(job.id);
    const meta = domainMetadataXml({ instanceId: d.instanceId, image: imgB, instanceType: d.instanceType, rebuiltBy: job.id });
    const fresh = hv.rebuildPaths(name, job.id);
    expect(await hv.rebuildSwap(name, { disk: fresh.disk, seed: null }, meta)).toEqual({ swapped: false });
    expect(virsh('domstate', name)).toBe('running');
    expect(backingFile(name)).toBe(cachedPath('b.qcow2'));
    expect(await hv.getDomain(name)).toMatchObject({ image: imgB, rebuiltBy: job.id });
    // A new disk still to move is never moved under a running domain.
    await hv.ssh.run(['qemu-img', 'create', '-q', '-f', 'qcow2', fresh.disk, '1M']);
    await expect(hv.rebuildSwap(name, { disk: fresh.disk, seed: null }, meta)).rejects.toThrow(/not shut off/);
    expect(backingFile(name)).toBe(cachedPath('b.qcow2'));
    await hv.removeFiles([fresh.disk]);

    const view = (await (await stack.fetch(`/v1/vms/r1/${name}`)).json()) as { image: string; instance_type: string; state: string };
    expect(view).toMatchObject({ image: imgB, instance_type: 'tiny', state: 'running', guest: { ready: false, ready_at: null } });

    // The same key with another body is refused; no second job.
    expect((await rebuild(name, { image: imgA }, { key })).status).toBe(422);
  }, 120_000);

  it('a stopped VM stays stopped; user_data makes a new seed; no image keeps the current one; bad input is a 422', async () => {
    const name = await createVm(imgA, { owner: 'alice' });
    const stop = await stack.fetch(`/v1/vms/r1/${name}/stop`, { method: 'POST', body: JSON.stringify({ force: true }) });
    expect((await waitJob(stack, ((await stop.json()) as JobBody).id)).state).toBe('succeeded');
    const seedBefore = readFileSync(hv.paths(name).seed);

    const bad = async (body: Record<string, unknown>, what: RegExp) => {
      const r = await rebuild(name, body);
      expect(r.status).toBe(422);
      expect(await r.text()).toMatch(what);
    };
    await bad({ image: 'no-such-image' }, new RegExp(`one of .*${imgA}`));
    await bad({ user_data: '%%%' }, /user_data is not base64/);
    await bad({ flavour: 'x' }, /flavour/);

    const marker = `rebuilt-${randomBytes(6).toString('hex')}`;
    const userData = Buffer.from(`#cloud-config\nhostname: ${marker}\n`).toString('base64');
    const job = await rebuilt(await rebuild(name, { user_data: userData }, { token: alice }));
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect(virsh('domstate', name)).toBe('shut off');
    // No image named: the VM's own, as a fresh overlay; its new seed carries the new user-data.
    expect(backingFile(name)).toBe(cachedPath('a.qcow2'));
    expect((await hv.getDomain(name)).image).toBe(imgA);
    const seed = readFileSync(hv.paths(name).seed);
    expect(seed.equals(seedBefore)).toBe(false);
    expect(seed.includes(marker)).toBe(true);
    expect(leftovers(name)).toEqual([]);
  }, 120_000);

  it('an image download that fails leaves the VM with its old disk, running, and says so', async () => {
    const name = await createVm(imgA);
    const uuid = virsh('domuuid', name);
    const job = await rebuilt(await rebuild(name, { image: broken }));
    expect(job.state).toBe('failed');
    expect(job.error?.code).toBe('DOWNLOAD_FAILED');
    expect(job.error?.message).toMatch(/left as it was, with its old disk/);
    expect(virsh('domuuid', name)).toBe(uuid);
    expect(virsh('domstate', name)).toBe('running');
    expect(backingFile(name)).toBe(cachedPath('a.qcow2'));
    expect((await hv.getDomain(name)).image).toBe(imgA);
    expect(leftovers(name)).toEqual([]);
  }, 120_000);

  it('removes what an earlier rebuild killed outright left (its new disk, a half-made one, its seed), and nothing of other VMs', async () => {
    const name = await createVm(imgA);
    // As a rebuild SIGKILLed before its swap leaves them (a job that never ran its cleanup), made by the automation user.
    const dead = `job_${randomBytes(16).toString('hex')}`;
    const files = [`${name}.rebuild-${dead}.qcow2`, `${name}.rebuild-${dead}.qcow2.part`, `${name}-seed.rebuild-${dead}.iso`];
    // Another VM's names that start alike are not this VM's.
    const others = [`${name}-2.rebuild-${dead}.qcow2`, `${name}-2-seed.rebuild-${dead}.iso`];
    for (const f of [...files, ...others]) await hv.ssh.run(['qemu-img', 'create', '-q', '-f', 'qcow2', join(host.disks_dir, f), '1M']);
    try {
      expect(leftovers(name).sort()).toEqual([...files].sort());
      const job = await rebuilt(await rebuild(name, { image: imgB }));
      expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
      expect(leftovers(name)).toEqual([]);
      expect(
        readdirSync(host.disks_dir)
          .filter((f) => others.includes(f))
          .sort(),
      ).toEqual([...others].sort());
      expect(backingFile(name)).toBe(cachedPath('b.qcow2'));
      expect(stack.logs.some((l) => l.includes('removed what an earlier rebuild of the VM left') && l.includes(files[0] ?? '-'))).toBe(true);
    } finally {
      await hv.removeFiles([...files, ...others].map((f) => join(host.disks_dir, f))).catch(() => undefined);
    }
  }, 120_000);

  it('a VM with snapshots is refused (by the job when the inventory does not know them, by the API with 409 once it does) unless delete_snapshots', async () => {
    const name = await createVm(imgA);
    const stop = await stack.fetch(`/v1/vms/r1/${name}/stop`, { method: 'POST', body: JSON.stringify({ force: true }) });
    expect((await waitJob(stack, ((await stop.json()) as JobBody).id)).state).toBe('succeeded');
    virsh('snapshot-create-as', name, 'before-rebuild');
    expect(virsh('snapshot-list', name, '--name')).toBe('before-rebuild');

    // The inventory was written before the snapshot existed: the worker finds it on the host.
    const refused = await rebuilt(await rebuild(name, { image: imgB }));
    expect(refused.state).toBe('failed');
    expect(refused.error?.code).toBe('CONFLICT');
    expect(refused.error?.message).toMatch(/before-rebuild.*delete_snapshots/);
    expect(backingFile(name)).toBe(cachedPath('a.qcow2'));
    expect(virsh('snapshot-list', name, '--name')).toBe('before-rebuild');

    // Once listed, the API refuses it up front, with nothing queued.
    await stack.fetch('/v1/vms?refresh=true');
    const r = await rebuild(name, { image: imgB });
    const text = await r.text();
    if (r.status !== 409) expect.fail(`expected 409 once the inventory lists the snapshot, got ${r.status}: ${text}`);
    expect(text).toMatch(/before-rebuild/);

    const job = await rebuilt(await rebuild(name, { image: imgB, delete_snapshots: true }));
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect(job.steps.map((s) => s.name)).toEqual(['fetch-image', 'create-disk', 'create-seed', 'stop', 'delete-snapshots', 'swap', 'start']);
    expect(virsh('snapshot-list', name, '--name')).toBe('');
    expect(backingFile(name)).toBe(cachedPath('b.qcow2'));
    expect(virsh('domstate', name)).toBe('shut off');
  }, 120_000);

  it('owner scoping: another owner’s token gets 404 and nothing is queued', async () => {
    const name = await createVm(imgA, { owner: 'alice' });
    const r = await rebuild(name, { image: imgB }, { token: bob });
    expect(r.status).toBe(404);
    const jobs = (await (await stack.fetch('/v1/jobs')).json()) as { jobs: Array<{ kind: string; target: { vm_name: string } }> };
    expect(jobs.jobs.filter((j) => j.kind === 'rebuild' && j.target.vm_name === name)).toEqual([]);
    expect(backingFile(name)).toBe(cachedPath('a.qcow2'));
  }, 60_000);
});
