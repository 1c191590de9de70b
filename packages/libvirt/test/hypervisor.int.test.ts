/**
 * End to end against the loopback host prepared by install-server.sh --local: real sshd, real libvirtd,
 * real QEMU, as the unprivileged automation user.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, processTable, startImageServer, uniqueName } from '../../../test/support/host.ts';
import { HOSTILE } from '../../../test/support/hostile.ts';
import { createSeedArgv, createVmArgv } from '../src/commands.ts';
import {
  AlreadyExistsError,
  AuthenticationError,
  CanceledError,
  ChecksumMismatchError,
  DomainNotFoundError,
  DownloadFailedError,
  domainMetadataXml,
  HostKeyError,
  type Hypervisor,
  InvalidArgumentError,
  isTagValue,
  TAGS_NS,
  TimeoutError,
} from '../src/index.ts';

const host = inject('loopbackHost');
let hv: Hypervisor;
let images: ImageServer;
const made: string[] = [];
const imageName = uniqueName('img');

beforeAll(async () => {
  hv = makeHypervisor(host);
  images = await startImageServer(
    makeImages([
      { name: 'tiny.qcow2', sizeMiB: 64 },
      { name: 'slow.raw', raw: true, bytes: 3 << 20 },
    ]),
  );
});

afterAll(async () => {
  for (const name of made) await hv.undefine(name).catch(() => undefined);
  await hv.close();
  await images.close();
});

describe('SSH transport', () => {
  it('keeps stdout, stderr and the exit code apart', async () => {
    const r = await hv.ssh.exec(['sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(r).toEqual({ stdout: 'out\n', stderr: 'err\n', exitCode: 7, signal: null });
  });

  it('passes hostile strings to the host as single literal arguments', async () => {
    const r = await hv.ssh.run(['printf', '%s\\0', ...HOSTILE]);
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(HOSTILE);
  });

  it('runs as the unprivileged automation user', async () => {
    const r = await hv.ssh.run(['id', '-un']);
    expect(r.stdout.trim()).toBe(host.user);
    expect(host.user).not.toBe('root');
  });

  it('sends with Nagle off: an exec is a few small packets that would each wait for the host’s delayed ACK', async () => {
    await hv.ssh.run(['true']);
    // Node records the socket option it set under this symbol (no public getter exists).
    const sock = (hv.ssh as unknown as { client: { _sock: object } }).client._sock;
    const key = Object.getOwnPropertySymbols(sock).find((k) => k.description === 'kSetNoDelay');
    expect(key && (sock as Record<symbol, unknown>)[key]).toBe(true);
  });

  it('carries concurrent commands as channels of one pooled connection', async () => {
    const before = hv.ssh.stats.connects;
    const outs = await Promise.all(Array.from({ length: 12 }, (_, i) => hv.ssh.run(['echo', String(i)])));
    expect(outs.map((o) => o.stdout.trim())).toEqual(Array.from({ length: 12 }, (_, i) => String(i)));
    expect(hv.ssh.stats.connects - before).toBeLessThanOrEqual(1);
  });

  it('refuses a host whose key does not match the pinned fingerprint, without retry', async () => {
    const wrong = `SHA256:${createHash('sha256').update('not the key').digest('base64').replace(/=+$/, '')}`;
    const other = makeHypervisor(host, { hostKeyFingerprints: [wrong] });
    const err = await other.ssh.run(['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyError);
    expect((err as HostKeyError).retryable).toBe(false);
    await other.close();
  });

  it('reports a key the host does not accept as an authentication error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prov-key-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
    const privateKey = readFileSync(join(dir, 'k'));
    rmSync(dir, { recursive: true });
    const other = makeHypervisor(host, { privateKey });
    const err = await other.ssh.run(['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    await other.close();
  });

  it('honours a command timeout by killing the remote process group', async () => {
    const marker = `${Math.floor(Math.random() * 1e6) + 1000}.5`;
    const started = Date.now();
    const err = await hv.ssh.run(['sh', '-c', 'sleep "$1"; echo done', 'sleeper', marker], { timeoutMs: 700 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(15_000);
    await expectGone(`sleep ${marker}`);
  });

  it('cancellation through AbortSignal stops the remote process (checked in the host process table)', async () => {
    const marker = `${Math.floor(Math.random() * 1e6) + 1000}.25`;
    const ac = new AbortController();
    const p = hv.ssh.run(['sleep', marker], { signal: ac.signal });
    await waitFor(() => processTable().includes(`sleep ${marker}`));
    ac.abort();
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CanceledError);
    await expectGone(`sleep ${marker}`);
  });
});

describe('validation before anything runs', () => {
  it.each(HOSTILE.filter((h) => h !== ''))('rejects hostile vm name %j without opening a channel', async (name) => {
    const before = hv.ssh.stats.channels;
    await expect(hv.start(name)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(hv.undefine(name)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(hv.setTags(name, {})).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(hv.ssh.stats.channels).toBe(before);
  });
  it.each(HOSTILE.filter((h) => !isTagValue(h)))('rejects hostile tag value %j without opening a channel', async (value) => {
    const before = hv.ssh.stats.channels;
    await expect(hv.setTags('valid-name', { t: value })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(hv.ssh.stats.channels).toBe(before);
  });
});

describe('host', () => {
  it('reports libvirt version, KVM, CPUs, memory and free disk', async () => {
    const info = await hv.hostInfo();
    expect(info.libvirtVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(info.kvm).toBe(host.kvm);
    expect(info.cpus).toBeGreaterThan(0);
    expect(info.memoryMiB).toBeGreaterThan(0);
    expect(info.imagesDirFreeBytes).toBeGreaterThan(0);
  });
});

describe('images', () => {
  it('downloads once into an immutable content-addressed cache, with progress', async () => {
    const progress: number[] = [];
    const first = await hv.ensureImage({ name: imageName, url: images.url('tiny.qcow2') }, { onProgress: (p) => progress.push(p) });
    const expected = createHash('sha256')
      .update(readFileSync(join(images.dir, 'tiny.qcow2')))
      .digest('hex');
    expect(first).toMatchObject({ sha256: expected, downloaded: true, path: `${host.images_dir}/sha256-${expected}` });
    expect(progress.at(-1)).toBe(100);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const again = await hv.ensureImage({ name: imageName, url: images.url('tiny.qcow2'), sha256: expected });
    expect(again).toMatchObject({ sha256: expected, downloaded: false });
    expect(images.requests.filter((r) => r === '/tiny.qcow2')).toHaveLength(1);
    expect(() => readFileSync(first.path)).not.toThrow();
  });

  it('refuses an image whose checksum does not match and keeps nothing of it', async () => {
    const name = uniqueName('bad');
    const err = await hv.ensureImage({ name, url: images.url('tiny.qcow2'), sha256: 'f'.repeat(64) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    // Its temporary file is named after the image: the images directory is shared, other downloads' are not this one's.
    expect(await downloadTemps(name)).toEqual([]);
    expect((await hv.ssh.exec(['test', '-e', `${host.images_dir}/by-name/${name}`])).exitCode).toBe(1);
  });

  it('removes its temporary file when canceled mid-download, and one left by a download killed outright at the next download of the name', async () => {
    const slow = await startImageServer(makeImages([{ name: 'slow.qcow2', sizeMiB: 16 }]), { bytesPerSecond: 256 * 1024 });
    try {
      const name = uniqueName('cx');
      const ac = new AbortController();
      const p = hv.ensureImage({ name, url: slow.url('slow.qcow2') }, { signal: ac.signal });
      await waitForAsync(async () => (await downloadTemps(name)).length === 1);
      ac.abort();
      expect(await p.catch((e: unknown) => e)).toBeInstanceOf(CanceledError);
      // The remote script ends on the kill's TERM, its trap removing the file.
      await waitForAsync(async () => (await downloadTemps(name)).length === 0);
      expect(await downloadTemps(name)).toEqual([]);

      // As a download killed with SIGKILL (or a host crash) leaves it: the next download of the name removes it.
      const stale = `${host.images_dir}/.download-${name}.Ab12Cd`;
      await hv.ssh.run(['touch', stale]);
      expect(await downloadTemps(name)).toEqual([stale]);
      expect(await hv.ensureImage({ name, url: images.url('tiny.qcow2') })).toMatchObject({ downloaded: true });
      expect(await downloadTemps(name)).toEqual([]);
    } finally {
      await slow.close();
    }
  });

  it('reports a 404 as a permanent download failure and a 503 as retryable', async () => {
    const e404 = await hv.ensureImage({ name: uniqueName('nf'), url: images.url('missing.qcow2') }).catch((e: unknown) => e);
    expect(e404).toBeInstanceOf(DownloadFailedError);
    expect((e404 as DownloadFailedError).retryable).toBe(false);
    const e503 = await hv.ensureImage({ name: uniqueName('nf'), url: images.url('status/503') }).catch((e: unknown) => e);
    expect((e503 as DownloadFailedError).retryable).toBe(true);
  });
});

describe('VM lifecycle', () => {
  const name = uniqueName('vm');
  const instanceId = uniqueName('op');
  made.push(name);

  it('caches the image, makes an overlay disk and a seed, defines, starts, retags, stops and removes the VM', async () => {
    const img = await hv.ensureImage({ name: imageName, url: images.url('tiny.qcow2') });
    const paths = hv.paths(name);

    const disk = await hv.createDisk(name, img.path, 256 * 1024 * 1024);
    expect(disk).toEqual({ path: paths.disk, created: true });
    expect(await hv.createDisk(name, img.path, 256 * 1024 * 1024)).toEqual({ path: paths.disk, created: false });
    const info = JSON.parse((await hv.ssh.run(['qemu-img', 'info', '--output=json', '-U', paths.disk])).stdout);
    expect(info['backing-filename']).toBe(img.path);
    expect(info['virtual-size']).toBe(256 * 1024 * 1024);

    const userData = '#cloud-config\npassword: s3cret-not-in-argv\n';
    await hv.createSeed(name, instanceId, userData);
    expect(existsSync(paths.seed)).toBe(true);
    // The seed holds the user-data, the disk the guest's data: only their owner reads them.
    const modes = await hv.ssh.run(['stat', '-c', '%a %U', paths.disk, paths.seed]);
    expect(modes.stdout).toBe(`600 ${host.user}\n600 ${host.user}\n`);

    const spec = {
      name,
      instanceId,
      vcpus: 1,
      memoryMiB: 64,
      diskPath: paths.disk,
      seedPath: paths.seed,
      tags: { owner: 'alice', description: 'a <b> & "c"' },
      image: imageName,
    };
    expect(await hv.defineDomain(spec)).toEqual({ created: true });
    expect(await hv.defineDomain(spec)).toEqual({ created: false });
    await expect(hv.defineDomain({ ...spec, instanceId: 'another-op' })).rejects.toBeInstanceOf(AlreadyExistsError);

    expect(await hv.start(name)).toEqual({ changed: true, result: 'started' });
    expect(await hv.start(name)).toEqual({ changed: false, result: 'already' });
    expect(await hv.domainState(name)).toBe('running');
    // The serial console's log is the automation user's own (virtlogd, root, only appends to it).
    expect((await hv.ssh.run(['stat', '-c', '%U %a', paths.console])).stdout).toBe(`${host.user} 640\n`);
    expect(await hv.consoleTail(name, 100)).toMatchObject({ source: 'current' });
    // No OS, so no agent: asked, the channel is simply not connected (no waiting for a timeout).
    const t0 = Date.now();
    expect((await hv.guestStatus([name])).get(name)).toEqual({ state: 'running', agent: 'absent', cloud_init: 'unknown', addresses: [] });
    expect(Date.now() - t0).toBeLessThan(10_000);

    await hv.setTags(name, { owner: 'bob', env: 'test' });
    const listed = (await hv.listDomains()).find((d) => d.name === name);
    expect(listed).toMatchObject({
      state: 'running',
      managed: true,
      instanceId,
      image: imageName,
      tags: { owner: 'bob', env: 'test' },
      vcpus: 1,
      memoryMiB: 64,
    });
    expect(listed?.id).toBeTypeOf('number');
    const desc = (await hv.ssh.run(['virsh', '-c', host.libvirt_uri, 'desc', name])).stdout.trim();
    expect(JSON.parse(Buffer.from(desc, 'base64').toString())).toEqual({ owner: 'bob', env: 'test' });

    // The test image has no OS: ACPI shutdown is ignored, so the timeout's power-off fallback must act.
    expect(await hv.shutdown(name, 1500)).toEqual({ result: 'forced' });
    expect(await hv.domainState(name)).toBe('shut off');
    expect(await hv.shutdown(name, 1500)).toEqual({ result: 'already' });

    // A log that virtlogd rolled over is root's and 0600: the next start gives the user a fresh one.
    execFileSync('chown', ['root:root', paths.console]);
    execFileSync('chmod', ['0600', paths.console]);
    expect(await hv.start(name)).toEqual({ changed: true, result: 'started' });
    expect((await hv.ssh.run(['stat', '-c', '%U %a', paths.console])).stdout).toBe(`${host.user} 640\n`);
    expect(await hv.powerOff(name)).toEqual({ changed: true });
    expect(await hv.powerOff(name)).toEqual({ changed: false });
    const stopped = (await hv.listDomains()).find((d) => d.name === name);
    expect(stopped).toMatchObject({ state: 'shut off', id: null, tags: { owner: 'bob', env: 'test' } });

    expect(await hv.undefine(name)).toEqual({ existed: true });
    expect(await hv.undefine(name)).toEqual({ existed: false });
    expect(existsSync(paths.disk)).toBe(false);
    expect(existsSync(paths.seed)).toBe(false);
    expect(existsSync(paths.console)).toBe(false);
    await expect(hv.domainState(name)).rejects.toBeInstanceOf(DomainNotFoundError);
    expect((await hv.listDomains()).some((d) => d.name === name)).toBe(false);
  });
});

describe('a create in one exec', () => {
  const name = uniqueName('vm');
  const instanceId = uniqueName('op');
  made.push(name);

  it('checks the image, makes disk and seed, defines and starts in ONE exec, announcing each step; a rerun converges; another operation’s domain is left alone', async () => {
    const image = { name: uniqueName('img'), url: images.url('tiny.qcow2') };
    const spec = { name, instanceId, vcpus: 1, memoryMiB: 64, tags: { owner: 'alice' }, image: image.name, imageRef: image, diskBytes: 256 << 20 };
    const userData = '#cloud-config\npassword: s3cret-not-in-argv\n';
    // Not cached yet: nothing is made, the caller downloads it.
    expect(await hv.createVm({ ...spec, userData, mine: false })).toEqual({ kind: 'need-image' });
    expect(existsSync(hv.paths(name).disk)).toBe(false);
    const cached = await hv.ensureImage(image);

    const events: string[] = [];
    const channels = hv.ssh.stats.channels;
    const out = await hv.createVm({ ...spec, userData, mine: false }, { onStep: (step, phase) => events.push(`${phase} ${step}`) });
    expect(hv.ssh.stats.channels - channels).toBe(1);
    expect(events).toEqual(['fetch-image', 'create-disk', 'create-seed', 'define', 'start'].flatMap((s) => [`begin ${s}`, `end ${s}`]));
    if (out.kind !== 'done') throw new Error(`expected done, got ${out.kind}`);
    expect(out.image.sha256).toBe(cached.sha256);
    // The domain as the same exec read it after starting it: what the inventory records, no re-read.
    expect(out.domain).toMatchObject({
      name,
      state: 'running',
      managed: true,
      instanceId,
      image: image.name,
      tags: { owner: 'alice' },
      vcpus: 1,
      memoryMiB: 64,
    });
    expect(out.domain.id).toBeTypeOf('number');
    const paths = hv.paths(name);
    // Read as root: libvirt hands a running VM's disk to QEMU's user.
    const diskInfo = () => JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', paths.disk], { encoding: 'utf8' }));
    expect(diskInfo()['backing-filename']).toBe(cached.path);
    expect(diskInfo()['virtual-size']).toBe(256 << 20);
    expect(execFileSync('stat', ['-c', '%a', paths.disk, paths.seed], { encoding: 'utf8' })).toBe('600\n600\n');
    // The user-data (on stdin, never in argv) is in the seed.
    expect(execFileSync('isoinfo', ['-i', paths.seed, '-R', '-x', '/user-data'], { encoding: 'utf8' })).toBe(userData);

    // Run again (a retry after a crash): the domain is found first and nothing is touched...
    const again = await hv.createVm({ ...spec, userData, mine: false });
    expect(again.kind).toBe('exists');
    // ...and, being this operation's own, carried on with `mine`: everything is there, so it converges.
    const rerun = await hv.createVm({ ...spec, userData, mine: true });
    expect(rerun).toMatchObject({ kind: 'done', domain: { name, state: 'running', instanceId } });
    // Stopped half-way (domain defined, not started): a rerun starts it.
    await hv.powerOff(name);
    expect(await hv.createVm({ ...spec, userData, mine: true })).toMatchObject({ kind: 'done', domain: { state: 'running' } });
    // A disk left by a crash before define (no domain): the rerun defines and starts over it.
    await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'destroy', name]);
    await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'undefine', name]);
    expect(await hv.createVm({ ...spec, userData, mine: false })).toMatchObject({ kind: 'done', domain: { state: 'running', instanceId } });
    expect(diskInfo()['backing-filename']).toBe(cached.path);
  });

  it('a client that has not seen the cached version reads its format and size first (qemu-img’s JSON, parsed here), then creates', async () => {
    const vm = uniqueName('vm');
    made.push(vm);
    const image = { name: uniqueName('img'), url: images.url('tiny.qcow2') };
    await hv.ensureImage(image);
    // Another client (a worker started after the download): it knows nothing of the version.
    const fresh = makeHypervisor(host);
    try {
      await fresh.hostInfo(); // KVM or not: asked once per client, not counted below
      const events: string[] = [];
      const channels = fresh.ssh.stats.channels;
      const spec = { name: vm, instanceId: uniqueName('op'), vcpus: 1, memoryMiB: 64, tags: {}, image: image.name, imageRef: image, diskBytes: 32 << 20 };
      const out = await fresh.createVm({ ...spec, userData: 'x', mine: false }, { onStep: (step, phase) => events.push(`${phase} ${step}`) });
      expect(out).toMatchObject({ kind: 'done', domain: { name: vm, state: 'running' } });
      // Two execs (the first stops for the facts before making anything); each step announced once.
      expect(fresh.ssh.stats.channels - channels).toBe(2);
      expect(events).toEqual(['fetch-image', 'create-disk', 'create-seed', 'define', 'start'].flatMap((s) => [`begin ${s}`, `end ${s}`]));
      // The disk is the image's size (64 MiB), not the smaller size asked: the facts were read right.
      const disk = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', fresh.paths(vm).disk], { encoding: 'utf8' }));
      expect(disk['virtual-size']).toBe(64 << 20);
    } finally {
      await fresh.close();
    }
  });

  it('tells a domain of the name that exists without touching its disk or seed', async () => {
    const other = uniqueName('vm');
    made.push(other);
    const image = { name: uniqueName('img'), url: images.url('tiny.qcow2') };
    await hv.ensureImage(image);
    const base = { name: other, vcpus: 1, memoryMiB: 64, tags: {}, image: image.name, imageRef: image, diskBytes: 64 << 20, userData: 'x', mine: false };
    expect((await hv.createVm({ ...base, instanceId: 'first-op' })).kind).toBe('done');
    const stat = () => execFileSync('stat', ['-c', '%Y %s %i', hv.paths(other).seed, hv.paths(other).disk], { encoding: 'utf8' });
    const before = stat();
    const out = await hv.createVm({ ...base, instanceId: 'second-op', userData: 'y' });
    expect(out.kind).toBe('exists');
    expect(out.kind === 'exists' && out.xml).toContain('first-op');
    expect(stat()).toBe(before);
  });

  it('writes the same NoCloud seed (volume cidata: user-data, meta-data; 0600) per step and in the one exec, into a directory made for it', async () => {
    const vm = uniqueName('vm');
    made.push(vm);
    const dir = join(host.disks_dir, uniqueName('seeds'));
    const cached = await hv.ensureImage({ name: imageName, url: images.url('tiny.qcow2') });
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', cached.path], { encoding: 'utf8' }));
    const knownBase = { file: basename(cached.path), format: info.format, virtualSize: info['virtual-size'] };
    const userData = '#cloud-config\nhostname: from-user-data\n';
    const boundary = 'c'.repeat(32);
    try {
      // Per step (as a rebuild makes its new seed).
      const step = join(dir, 'step', 'seed.iso');
      await hv.ssh.run(createSeedArgv(step, 'op-step', vm), { stdin: userData });
      // In the create's one exec, into a directory of its own (not the disk's): a domain XML libvirt
      // refuses stops it right after the seed, so nothing is defined or started.
      const once = join(dir, 'once', 'seed.iso');
      const r = await hv.ssh.exec(
        createVmArgv(host.libvirt_uri, {
          name: vm,
          instanceId: 'op-once',
          imagesDir: host.images_dir,
          image: { name: imageName },
          diskPath: join(dir, 'once.qcow2'),
          diskBytes: 64 << 20,
          seedPath: once,
          consoleLog: join(dir, 'once.console.log'),
          knownBase,
          mine: false,
          xml: 'not a domain',
          boundary,
        }),
        { stdin: userData },
      );
      expect(r.stdout).toContain(`@@${boundary} END create-seed\n@@${boundary} BEGIN define\n`);
      expect(r.exitCode).toBe(1);
      for (const [seed, id] of [
        [step, 'op-step'],
        [once, 'op-once'],
      ] as const) {
        const iso = (...a: string[]) => execFileSync('isoinfo', ['-i', seed, ...a], { encoding: 'utf8' });
        expect(iso('-d')).toMatch(/^Volume id: cidata$/m);
        expect(iso('-R', '-f').split('\n').filter(Boolean).sort()).toEqual(['/meta-data', '/user-data']);
        expect(iso('-R', '-x', '/user-data')).toBe(userData);
        expect(iso('-R', '-x', '/meta-data')).toBe(`instance-id: ${id}\nlocal-hostname: ${vm}\n`);
        expect(execFileSync('stat', ['-c', '%a %U', seed], { encoding: 'utf8' })).toBe(`600 ${host.user}\n`);
      }
    } finally {
      await hv.ssh.run(['rm', '-rf', '--', dir]);
    }
  });
});

/**
 * A boot sector that suspends its VM to RAM once: it writes S3 (SLP_TYP 1 | SLP_EN) to the PIIX4 PM1a
 * control register (SeaBIOS puts the ACPI PM block at 0x600) and marks CMOS byte 0x70 first, so that
 * after a wake-up (SeaBIOS reboots into it: no OS resume vector) it only halts and the VM stays running.
 */
function suspendOnceBootSector(): Buffer {
  const code = [
    [0xb0, 0x70, 0xe6, 0x70, 0xe4, 0x71], // mov al,0x70; out 0x70,al; in al,0x71
    [0x3c, 0xa5, 0x74, 0x0f], // cmp al,0xa5; je halt
    [0xb0, 0x70, 0xe6, 0x70, 0xb0, 0xa5, 0xe6, 0x71], // CMOS[0x70] = 0xa5
    [0xba, 0x04, 0x06, 0xb8, 0x00, 0x24, 0xef], // mov dx,0x604; mov ax,0x2400; out dx,ax
    [0xf4, 0xeb, 0xfd], // halt: hlt; jmp halt
  ].flat();
  const disk = Buffer.alloc(1 << 20);
  Buffer.from(code).copy(disk);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  return disk;
}

describe('disk sizes read as qemu-img’s JSON (disk-info), then acted on by the scripts', () => {
  it('a rebuild’s swap grows the new disk to the old one’s size, never shrinks it; resize grows the disk only when asked for more', async () => {
    const vm = uniqueName('vm');
    made.push(vm);
    const image = { name: imageName, url: images.url('tiny.qcow2') };
    await hv.ensureImage(image);
    const spec = { name: vm, instanceId: uniqueName('op'), vcpus: 1, memoryMiB: 64, tags: {}, image: image.name, imageRef: image, diskBytes: 96 << 20 };
    expect((await hv.createVm({ ...spec, userData: 'x', mine: false })).kind).toBe('done');
    await hv.powerOff(vm);
    const size = (path: string) => JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', path], { encoding: 'utf8' }))['virtual-size'];
    const { disk } = hv.paths(vm);
    // The new disk (the image's 64 MiB) is grown to the old one's 96 MiB before it takes its place.
    const fresh = hv.rebuildPaths(vm, 'job_swap');
    await hv.ssh.run(['qemu-img', 'create', '-q', '-f', 'qcow2', fresh.disk, String(64 << 20)]);
    const d = await hv.getDomain(vm);
    const meta = domainMetadataXml({ instanceId: d.instanceId, image: d.image, instanceType: 'tiny', rebuiltBy: 'job_swap' });
    expect(await hv.rebuildSwap(vm, { disk: fresh.disk, seed: null }, meta)).toEqual({ swapped: true });
    expect(size(disk)).toBe(96 << 20);
    // A bigger new disk is left as it is.
    await hv.ssh.run(['qemu-img', 'create', '-q', '-f', 'qcow2', fresh.disk, String(128 << 20)]);
    expect(await hv.rebuildSwap(vm, { disk: fresh.disk, seed: null }, meta)).toEqual({ swapped: true });
    expect(size(disk)).toBe(128 << 20);
    // Resize: the same size is no change, a smaller one never shrinks it, a larger one grows it.
    const to = { vcpus: 1, memoryMiB: 64, instanceType: 'tiny' };
    expect((await hv.resize(vm, { ...to, diskBytes: 128 << 20 })).changed).toEqual([]);
    expect((await hv.resize(vm, { ...to, diskBytes: 64 << 20 })).changed).toEqual([]);
    expect(size(disk)).toBe(128 << 20);
    expect((await hv.resize(vm, { ...to, diskBytes: 160 << 20 })).changed).toEqual(['disk']);
    expect(size(disk)).toBe(160 << 20);
  });
});

describe('start of a VM its guest suspended to RAM (pmsuspended)', () => {
  const name = uniqueName('vm');
  made.push(name);

  it('wakes it up (virsh dompmwakeup), keeping its memory: `woken`, and running after', async () => {
    const raw = join(images.dir, 'suspend-once.raw');
    writeFileSync(raw, suspendOnceBootSector());
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, join(images.dir, 'suspend-once.qcow2')]);
    const image = { name: uniqueName('img'), url: images.url('suspend-once.qcow2') };
    await hv.ensureImage(image);
    const spec = {
      name,
      instanceId: uniqueName('op'),
      vcpus: 1,
      memoryMiB: 64,
      tags: {},
      image: image.name,
      imageRef: image,
      diskBytes: 1 << 20,
      userData: 'x',
    };
    expect(await hv.createVm({ ...spec, mine: false })).toMatchObject({ kind: 'done' });
    const end = Date.now() + 60_000;
    while ((await hv.domainState(name)) !== 'pmsuspended') {
      if (Date.now() > end) throw new Error(`the guest did not suspend itself: ${await hv.domainState(name)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await hv.start(name)).toEqual({ changed: true, result: 'woken' });
    // Woken, not restarted: running, and it stays so (a restart would have run the boot sector again with a fresh CMOS).
    await new Promise((r) => setTimeout(r, 2000));
    expect(await hv.domainState(name)).toBe('running');
    expect(await hv.start(name)).toEqual({ changed: false, result: 'already' });
    await hv.undefine(name);
  });
});

describe('a paused VM (virsh suspend, or libvirt pausing it on an I/O error)', () => {
  const name = uniqueName('vm');
  made.push(name);
  const suspend = async () => {
    await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'suspend', name]);
    expect(await hv.domainState(name)).toBe('paused');
  };

  it('is resumed by a start, by a create run again by its retry, and before a stop’s graceful shutdown', async () => {
    const image = { name: uniqueName('img'), url: images.url('tiny.qcow2') };
    await hv.ensureImage(image);
    const spec = {
      name,
      instanceId: uniqueName('op'),
      vcpus: 1,
      memoryMiB: 64,
      tags: {},
      image: image.name,
      imageRef: image,
      diskBytes: 64 << 20,
      userData: 'x',
    };
    expect(await hv.createVm({ ...spec, mine: false })).toMatchObject({ kind: 'done', domain: { state: 'running' } });
    const paths = hv.paths(name);
    const consoleInode = () => execFileSync('stat', ['-c', '%i', paths.console], { encoding: 'utf8' });
    const inode = consoleInode();

    // The create's retry (its own domain, mine) finds it paused: it resumes it, it does not `virsh start` it.
    await suspend();
    expect(await hv.createVm({ ...spec, mine: true })).toMatchObject({ kind: 'done', domain: { state: 'running' } });

    // A start resumes it and says so; started again, it is already running.
    await suspend();
    expect(await hv.start(name)).toEqual({ changed: true, result: 'resumed' });
    expect(await hv.domainState(name)).toBe('running');
    expect(await hv.start(name)).toEqual({ changed: false, result: 'already' });
    // The same QEMU ran on: its console log (virtlogd has it open) was left as it was.
    expect(consoleInode()).toBe(inode);

    // A stop resumes it first, so its guest runs during the graceful window (a paused one could not act on
    // the ACPI request); this blank guest ignores it, so the timeout's power-off ends it, in about the timeout.
    await suspend();
    const seen = new Set<string>();
    let stopping = true;
    const watch = (async () => {
      while (stopping) {
        seen.add((await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'domstate', name])).stdout.trim());
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const t0 = Date.now();
    const stopped = await hv.shutdown(name, 2000).finally(() => {
      stopping = false;
    });
    const took = Date.now() - t0;
    await watch;
    expect(stopped).toEqual({ result: 'forced' });
    expect(seen.has('running')).toBe(true);
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(10_000);
    expect(await hv.domainState(name)).toBe('shut off');

    // Paused and powered off at once (a forced stop) needs no resume.
    expect(await hv.start(name)).toEqual({ changed: true, result: 'started' });
    await suspend();
    expect(await hv.powerOff(name)).toEqual({ changed: true });
    expect(await hv.domainState(name)).toBe('shut off');
  });

  it('keeps its open console log when reverted to a snapshot while paused', async () => {
    expect(await hv.start(name)).toMatchObject({ result: 'started' });
    expect(await hv.createSnapshot(name, 'before', 'marker-1')).toEqual({ created: true });
    await suspend();
    const paths = hv.paths(name);
    // As virtlogd leaves a log it rolled over: root's, 0600. Only a domain that is off may have it replaced.
    execFileSync('chown', ['root:root', paths.console]);
    execFileSync('chmod', ['0600', paths.console]);
    const inode = execFileSync('stat', ['-c', '%i', paths.console], { encoding: 'utf8' });
    await hv.revertSnapshot(name, 'before');
    expect(await hv.domainState(name)).toBe('running');
    expect(execFileSync('stat', ['-c', '%i %U', paths.console], { encoding: 'utf8' })).toBe(`${inode.trim()} root\n`);
  });
});

describe('listing', () => {
  it('lists 50 domains with state and tags in one SSH exec', async () => {
    const names = Array.from({ length: 50 }, () => uniqueName('ls'));
    made.push(...names);
    for (const [i, name] of names.entries()) {
      const p = hv.paths(name);
      await hv.defineDomain({
        name,
        instanceId: `op-${name}`,
        vcpus: 1,
        memoryMiB: 32,
        diskPath: p.disk,
        seedPath: null,
        tags: { owner: 'lister', n: String(i) },
      });
    }
    const before = hv.ssh.stats.channels;
    const all = await hv.listDomains();
    expect(hv.ssh.stats.channels - before).toBe(1);
    const mine = all.filter((d) => names.includes(d.name));
    expect(mine).toHaveLength(50);
    for (const d of mine) expect(d).toMatchObject({ state: 'shut off', id: null, managed: true, tags: { owner: 'lister', n: String(names.indexOf(d.name)) } });
    for (const name of names) await hv.undefine(name);
  });
});

describe('listing framing', () => {
  const MARKERS = ['@@DOMAIN', '@@STATE', '@@DONE', '@@DOMAINS', '@@LEASEFILE', '@@EXISTS', '@@DEFINED'];

  it('keeps a running VM listed with its true state, vCPUs and tags whatever its tags and description hold', async () => {
    const name = uniqueName('frame');
    made.push(name);
    const img = await hv.ensureImage({ name: imageName, url: images.url('tiny.qcow2') });
    const p = hv.paths(name);
    await hv.createDisk(name, img.path, 256 * 1024 * 1024);
    const spec = { name, instanceId: `op-${name}`, vcpus: 2, memoryMiB: 64, diskPath: p.disk, seedPath: null, tags: {} };
    await hv.defineDomain(spec);
    await hv.start(name);
    const uuid = (await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'domuuid', name])).stdout.trim();
    const mine = async () => (await hv.listDomains()).filter((d) => d.name === name);

    // Through the library (what PUT /v1/vms/…/tags runs): every marker, with this domain's own UUID too.
    const viaApi: Record<string, string> = {
      note: 'x @@DOMAIN 00000000-0000-0000-0000-000000000000 y',
      state: 'x @@STATE shut off',
      own: `@@DOMAIN ${uuid} @@STATE shut off @@DONE`,
      xml: ']]><![CDATA[ </domain> <x a="1"/> &amp; & \'"',
      ...Object.fromEntries(MARKERS.map((m, i) => [`m${i}`, `${m} ${m.slice(2)}`])),
      ...Object.fromEntries(HOSTILE.filter(isTagValue).map((v, i) => [`h${i}`, v])),
    };
    await hv.setTags(name, viaApi);
    expect(await mine()).toEqual([expect.objectContaining({ state: 'running', vcpus: 2, memoryMiB: 64, managed: true, tags: viaApi })]);

    // Straight through virsh, as a hand-made domain or the replaced service could: newlines put each
    // marker at a line start, and tag keys hold XML metacharacters.
    const lines = MARKERS.map((m) => `${m} 00000000-0000-0000-0000-000000000000\n${m}\nshut off`).join('\n');
    const desc = `x\n${lines}\n]]> </description> <![CDATA[ & \n`;
    await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'desc', name, '--live', '--config', '--new-desc', desc]);
    const esc = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
    const direct: Record<string, string> = {
      '@@DOMAIN <&>"\'': `a\n${lines}\nz`,
      '@@STATE': ']]><![CDATA[ </tags></metadata></domain>',
      '\n@@DONE\n': 'shut off',
    };
    const metadata = `<tags>${Object.entries(direct)
      .map(([k, v]) => `<tag key="${esc(k)}">${esc(v)}</tag>`)
      .join('')}</tags>`;
    await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'metadata', name, '--uri', TAGS_NS, '--key', 'prov', '--set', metadata, '--live', '--config']);
    const [listed] = await mine();
    expect(listed).toMatchObject({ state: 'running', vcpus: 2, memoryMiB: 64, instanceId: spec.instanceId });
    // XML turns the newlines of an attribute (the key) into spaces, trimmed by the parser as values are.
    expect(listed?.tags).toEqual({ '@@DOMAIN <&>"\'': `a\n${lines}\nz`, '@@STATE': direct['@@STATE'], '@@DONE': 'shut off' });
    // Defining again still sees the existing domain as this operation's.
    expect(await hv.defineDomain(spec)).toEqual({ created: false });
    await expect(hv.defineDomain({ ...spec, instanceId: 'another-op' })).rejects.toBeInstanceOf(AlreadyExistsError);
    await hv.undefine(name);
  });
});

/** The images directory's temporary download files of image `name` (ensure-image.sh names them after it). */
async function downloadTemps(name: string): Promise<string[]> {
  const r = await hv.ssh.run(['find', host.images_dir, '-maxdepth', '1', '-name', `.download-${name}.*`]);
  return r.stdout.split('\n').filter(Boolean);
}

async function waitForAsync(cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function expectGone(pattern: string): Promise<void> {
  await waitFor(() => !processTable().includes(pattern), 5000);
  expect(processTable()).not.toContain(pattern);
}
