/**
 * The host's image cache against the loopback host: concurrent ensures download once, verification
 * finds and removes a corrupted version, pruning keeps what disks use, the current version and the
 * newest old ones. Runs in a cache directory of its own (removed at the end), never the shared one.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../../../test/support/host.ts';
import type { Hypervisor } from '../src/index.ts';

const host = inject('loopbackHost');
let base: Hypervisor;
let hv: Hypervisor;
let dir: string;
let images: ImageServer;

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const opts = { keep: 1, verify: false, prune: false, graceMinutes: 0 };

beforeAll(async () => {
  base = makeHypervisor(host);
  dir = (await base.ssh.run(['mktemp', '-d', '/tmp/prov-cache-XXXXXX'])).stdout.trim();
  hv = makeHypervisor({ ...host, images_dir: `${dir}/images`, disks_dir: `${dir}/disks` });
  images = await startImageServer(makeImages([{ name: 'v.qcow2', sizeMiB: 16 }]), { bytesPerSecond: 1 << 20 });
});

afterAll(async () => {
  if (dir?.startsWith('/tmp/prov-cache-')) await base.ssh.run(['rm', '-rf', '--', dir]).catch(() => undefined);
  await images?.close();
  await Promise.all([hv?.close(), base?.close()]);
});

/**
 * Gives the served image new content (a new version of the same name): a random byte pattern written at a
 * random place. An empty qcow2 of a size is the same file whoever makes it, so a version told apart by its
 * size alone could be byte for byte (and so by hash) the image of another test file's running VM, whose
 * domain XML then names it: pruning rightly keeps it, and this file's pruning tests failed now and then.
 */
function newVersion(): string {
  const path = join(images.dir, 'v.qcow2');
  const rand = (n: number) => Math.floor(Math.random() * n);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, `${16 + rand(1000)}M`]);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P ${1 + rand(255)} ${rand(2048) * 512} 512`, path], { stdio: 'ignore' });
  return sha(path);
}

describe('image cache', () => {
  it('ten concurrent ensures of a missing image download it once', async () => {
    const name = uniqueName('once');
    const ref = { name, url: images.url('v.qcow2') };
    const before = images.requests.length;
    const all = await Promise.all(Array.from({ length: 10 }, () => hv.ensureImage(ref)));
    expect(images.requests.length - before).toBe(1);
    expect(all.filter((r) => r.downloaded)).toHaveLength(1);
    expect(new Set(all.map((r) => r.sha256)).size).toBe(1);
  });

  it('verifies the cached content against its name, removes a corrupted version, and the next ensure downloads it again', async () => {
    const name = uniqueName('ver');
    const want = sha(join(images.dir, 'v.qcow2'));
    const img = await hv.ensureImage({ name, url: images.url('v.qcow2'), sha256: want });
    expect((await hv.imageCache([name], { ...opts, verify: true })).images).toEqual([{ name, sha256: want, sizeBytes: img.sizeBytes, verified: 'ok' }]);
    // Flip bytes in the cached file (read-only for everyone: make it writable first).
    await hv.ssh.run(['sh', '-c', 'chmod u+w "$1" && printf garbage | dd of="$1" bs=1 seek=4096 conv=notrunc status=none', 'corrupt', img.path]);
    expect((await hv.imageCache([name], { ...opts, verify: true })).images).toEqual([{ name, sha256: null, sizeBytes: 0, verified: 'corrupt' }]);
    const before = images.requests.length;
    expect(await hv.ensureImage({ name, url: images.url('v.qcow2'), sha256: want })).toMatchObject({ sha256: want, downloaded: true });
    expect(images.requests.length - before).toBe(1);
  });

  it('prunes old versions no disk uses beyond the number kept, never the current one or one a disk uses', async () => {
    const name = uniqueName('pr');
    const ref = { name, url: images.url('v.qcow2') };
    const a = newVersion();
    const va = await hv.ensureImage(ref, { refresh: true });
    expect(va.sha256).toBe(a);
    // A VM disk on version a.
    const disk = await hv.createDisk(uniqueName('disk'), va.path, 64 << 20);
    expect(disk.created).toBe(true);
    const b = newVersion();
    expect((await hv.ensureImage(ref, { refresh: true })).sha256).toBe(b);
    const c = newVersion();
    expect((await hv.ensureImage(ref, { refresh: true })).sha256).toBe(c);
    const files = async () => (await hv.ssh.run(['sh', '-c', 'ls "$1" | grep "^sha256-" || true', 'ls', `${dir}/images`])).stdout;

    // One old unused version (b) is kept; a is used by the disk; c is current.
    expect((await hv.imageCache([name], { ...opts, prune: true, keep: 1 })).pruned).toEqual([]);
    // Within the grace period nothing goes.
    expect((await hv.imageCache([name], { ...opts, prune: true, keep: 0, graceMinutes: 60 })).pruned).toEqual([]);
    const r = await hv.imageCache([name], { ...opts, prune: true, keep: 0 });
    expect(r.pruned).toEqual([{ name, sha256: b }]);
    expect(r.images).toEqual([expect.objectContaining({ name, sha256: c })]);
    const left = await files();
    expect(left).toContain(`sha256-${a}`);
    expect(left).toContain(`sha256-${c}`);
    expect(left).not.toContain(`sha256-${b}`);
    // Once the disk is gone, a goes too.
    await hv.ssh.run(['rm', '-f', disk.path]);
    expect((await hv.imageCache([name], { ...opts, prune: true, keep: 0 })).pruned).toEqual([{ name, sha256: a }]);
  });

  it('a download hashed after it (hashLater): usable at once, then known by its hash; pruning sees a disk on it and removes both names together', async () => {
    const name = uniqueName('hl');
    const ref = { name, url: images.url('v.qcow2') };
    const a = newVersion();
    const va = await hv.ensureImage(ref, { refresh: true, hashLater: true });
    expect(va.path).toMatch(new RegExp(`^${dir}/images/dl-[A-Za-z0-9]{6}$`));
    expect(va.downloaded).toBe(true);
    const disk = await hv.createDisk(uniqueName('disk'), va.path, 64 << 20);
    // The host hashes it in the background: the name then points to the hash, the same file under both names.
    const link = async () => (await hv.ssh.run(['readlink', `${dir}/images/by-name/${name}`])).stdout.trim();
    for (let i = 0; i < 100 && (await link()) !== `../sha256-${a}`; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await link()).toBe(`../sha256-${a}`);
    const inode = async (f: string) => (await hv.ssh.run(['stat', '-c', '%i', f])).stdout;
    expect(await inode(`${dir}/images/sha256-${a}`)).toBe(await inode(va.path));
    expect((await hv.ssh.run(['cat', `${va.path}.sha256`])).stdout.trim()).toBe(a);
    expect((await hv.ensureImage(ref)).sha256).toBe(a);
    // Two newer versions: a is old and unused by name, but the disk's base (its dl- name) keeps it.
    newVersion();
    await hv.ensureImage(ref, { refresh: true });
    newVersion();
    await hv.ensureImage(ref, { refresh: true });
    const ls = async () => (await hv.ssh.run(['ls', `${dir}/images`])).stdout;
    expect((await hv.imageCache([name], { ...opts, prune: true, keep: 0 })).pruned.map((p) => p.sha256)).not.toContain(a);
    expect(await ls()).toContain(va.path.slice(va.path.lastIndexOf('/') + 1));
    // Once the disk is gone, a goes, under both its names.
    await hv.ssh.run(['rm', '-f', disk.path]);
    const gone = await hv.imageCache([name], { ...opts, prune: true, keep: 0 });
    expect(gone.pruneSkipped).toEqual([]);
    expect(gone.pruned.map((p) => p.sha256)).toContain(a);
    expect(await ls()).not.toContain(`sha256-${a}`);
    expect(await ls()).not.toContain(va.path.slice(va.path.lastIndexOf('/') + 1));
  });

  it("prunes nothing while a disk cannot be read, and keeps the base of a running VM whose disk QEMU's user owns", async () => {
    const name = uniqueName('use');
    const ref = { name, url: images.url('v.qcow2') };
    newVersion();
    const va = await hv.ensureImage(ref, { refresh: true });
    const vm = uniqueName('run');
    const disk = await hv.createDisk(vm, va.path, 64 << 20);
    const mode = async (path: string) => (await hv.ssh.run(['stat', '-c', '%a', path])).stdout.trim();
    expect(await mode(disk.path)).toBe('600');
    newVersion();
    const vb = await hv.ensureImage(ref, { refresh: true });
    newVersion();
    const vc = await hv.ensureImage(ref, { refresh: true });
    const cached = async () => (await hv.ssh.run(['ls', `${dir}/images`])).stdout;

    // A disk the automation user cannot read (and no running domain lists): its base might be any version.
    await hv.ssh.run(['chmod', '0000', disk.path]);
    const blind = await hv.imageCache([name], { ...opts, prune: true, keep: 0 });
    expect(blind.pruned).toEqual([]);
    expect(blind.pruneSkipped).toEqual([`unreadable disk ${disk.path}`]);
    expect(await cached()).toContain(`sha256-${va.sha256}`);
    expect(await cached()).toContain(`sha256-${vb.sha256}`);
    await hv.ssh.run(['chmod', '0600', disk.path]);

    // Running, the disk is handed to QEMU's user (libvirt's DAC labelling): the automation user cannot
    // read it, and the domain's live XML tells which version it is based on.
    try {
      await hv.defineDomain({ name: vm, instanceId: `op-${vm}`, vcpus: 1, memoryMiB: 32, diskPath: disk.path, seedPath: null, tags: {} });
      await hv.start(vm);
      expect((await hv.ssh.exec(['test', '-r', disk.path])).exitCode).not.toBe(0);
      const r = await hv.imageCache([name], { ...opts, prune: true, keep: 0 });
      expect(r.pruneSkipped).toEqual([]);
      expect(r.pruned).toEqual([{ name, sha256: vb.sha256 }]);
      expect(r.images).toEqual([expect.objectContaining({ name, sha256: vc.sha256 })]);
      expect(await cached()).toContain(`sha256-${va.sha256}`);
    } finally {
      await hv.undefine(vm);
    }
    expect((await hv.imageCache([name], { ...opts, prune: true, keep: 0 })).pruned).toEqual([{ name, sha256: va.sha256 }]);
  });

  it('keeps the base of a VM with snapshots, running or stopped and after a revert: internal snapshots live in the disk, on its backing file', async () => {
    const name = uniqueName('snp');
    const ref = { name, url: images.url('v.qcow2') };
    newVersion();
    const va = await hv.ensureImage(ref, { refresh: true });
    const vm = uniqueName('snv');
    const disk = await hv.createDisk(vm, va.path, 64 << 20);
    const cached = async () => (await hv.ssh.run(['ls', `${dir}/images`])).stdout;
    const prune = () => hv.imageCache([name], { ...opts, prune: true, keep: 0 });
    try {
      await hv.defineDomain({ name: vm, instanceId: `op-${vm}`, vcpus: 1, memoryMiB: 32, diskPath: disk.path, seedPath: null, tags: {} });
      expect(await hv.createSnapshot(vm, 'stopped', 'job_1')).toEqual({ created: true });
      await hv.start(vm);
      expect(await hv.createSnapshot(vm, 'running', 'job_2')).toEqual({ created: true });
      newVersion();
      const vb = await hv.ensureImage(ref, { refresh: true });
      newVersion();
      await hv.ensureImage(ref, { refresh: true });
      // Running: the live XML's backing chain names version a.
      const r1 = await prune();
      expect(r1.pruneSkipped).toEqual([]);
      expect(r1.pruned).toEqual([{ name, sha256: vb.sha256 }]);
      // Stopped and reverted to the snapshot taken stopped: qemu-img reads the same backing file from the disk.
      await hv.powerOff(vm);
      await hv.revertSnapshot(vm, 'stopped');
      expect(await hv.domainState(vm)).toBe('shut off');
      const r2 = await prune();
      expect(r2.pruneSkipped).toEqual([]);
      expect(r2.pruned).toEqual([]);
      expect(await cached()).toContain(`sha256-${va.sha256}`);
      // Back to the running one (it starts again), still on version a.
      await hv.revertSnapshot(vm, 'running');
      expect(await hv.domainState(vm)).toBe('running');
      expect((await prune()).pruned).toEqual([]);
      expect(await cached()).toContain(`sha256-${va.sha256}`);
      // libvirt lists snapshots in no promised order.
      expect((await hv.snapshots(vm)).map((x) => x.name).sort()).toEqual(['running', 'stopped']);
    } finally {
      await hv.undefine(vm);
    }
    // The VM and its snapshots gone (undefine takes the snapshot metadata too), version a goes.
    expect((await prune()).pruned).toEqual([{ name, sha256: va.sha256 }]);
  });
});
