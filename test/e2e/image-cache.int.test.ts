/**
 * The image cache end to end: the scheduled image-cache job fills and verifies each host's cache and
 * GET /v1/images shows it per host; ten concurrent creates of an image no host has yet download it once.
 * Real API and worker processes, real Redis, the loopback host and its automation user's session libvirt
 * (cache only: the placement test counts that libvirt's VMs).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, sessionHost, startImageServer, uniqueName } from '../support/host.ts';
import { freePort, hostConfig, type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
const session = sessionHost(host);
let images: ImageServer;

beforeAll(async () => {
  // Throttled, so concurrent creates really overlap while the image downloads.
  images = await startImageServer(
    // Sizes of their own: content no earlier run left in a host's cache.
    makeImages([
      { name: 'a.qcow2', sizeMiB: 32 + Math.floor(Math.random() * 10_000) },
      { name: 'b.qcow2', sizeMiB: 32 + Math.floor(Math.random() * 10_000) },
    ]),
    { bytesPerSecond: 1 << 20 },
  );
});

afterAll(async () => {
  await images?.close();
});

const sha = (file: string) =>
  createHash('sha256')
    .update(readFileSync(join(images.dir, file)))
    .digest('hex');

interface ImagesBody {
  images: Array<{
    name: string;
    hosts: Array<{
      host: string;
      cached: boolean | null;
      sha256: string | null;
      size_bytes: number | null;
      verified: boolean | null;
      checked_at: string | null;
    }>;
  }>;
}

describe('scheduled image cache', () => {
  let stack: Stack;
  const a = uniqueName('ca');
  const b = uniqueName('cb');
  // Another name for a's content: found in the cache (no download), hashed once to verify it.
  const c = uniqueName('cc');

  beforeAll(async () => {
    stack = await startStack({
      host,
      images: {
        [a]: { url: images.url('a.qcow2'), sha256: sha('a.qcow2') },
        [b]: { url: images.url('b.qcow2') },
        [c]: { url: images.url('a.qcow2'), sha256: sha('a.qcow2') },
      },
      extraHosts: [hostConfig('h2', session)],
      extra: { image_cache: { interval_ms: 60_000, verify: true, keep_unused_versions: 1, prune_grace_minutes: 60 } },
    });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('fills every host’s cache with the catalog, verified, and GET /v1/images shows it per host', async () => {
    const end = Date.now() + 60_000;
    let body: ImagesBody = { images: [] };
    while (Date.now() < end) {
      body = (await (await stack.fetch('/v1/images', { token: stack.tokens.read })).json()) as ImagesBody;
      if (body.images.every((i) => i.hosts.every((h) => h.cached === true))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    for (const [name, file] of [
      [a, 'a.qcow2'],
      [b, 'b.qcow2'],
      [c, 'a.qcow2'],
    ] as const) {
      const img = body.images.find((i) => i.name === name);
      expect(img?.hosts.map((h) => h.host)).toEqual(['h1', 'h2']);
      for (const h of img?.hosts ?? []) {
        expect(h).toMatchObject({ cached: true, sha256: sha(file), verified: true });
        expect(h.size_bytes).toBe(readFileSync(join(images.dir, file)).length);
        expect(Date.parse(String(h.checked_at))).toBeGreaterThan(Date.now() - 120_000);
      }
    }
    // Each host downloaded each image once.
    expect(images.requests.filter((r) => r === '/a.qcow2')).toHaveLength(2);
    expect(images.requests.filter((r) => r === '/b.qcow2')).toHaveLength(2);
    // The cache really is on each host, under the image's name.
    for (const h of [host, session]) {
      const hv = makeHypervisor(h);
      const link = await hv.ssh.run(['readlink', `${h.images_dir}/by-name/${a}`]);
      expect(link.stdout.trim()).toBe(`../sha256-${sha('a.qcow2')}`);
      await hv.close();
    }
  }, 90_000);
});

describe('concurrent creates of a new image', () => {
  let stack: Stack;
  const image = uniqueName('new');
  const names = Array.from({ length: 10 }, () => uniqueName('dl'));
  // On the system libvirt: the session one serves the placement test, whose capacity these VMs would take.
  const hv = makeHypervisor(host);

  beforeAll(async () => {
    stack = await startStack({ host, maxConcurrent: 10, images: { [image]: { url: images.url('b.qcow2') } } });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    for (const n of names) await hv.undefine(n).catch(() => undefined);
    await hv.close();
  });

  it('ten at once on one host download it once', async () => {
    const before = images.requests.filter((r) => r === '/b.qcow2').length;
    const ids = await Promise.all(
      names.map(async (vm_name) => {
        const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name, region_name: 'r1', instance_type: 'tiny', image }) });
        expect(r.status).toBe(202);
        return ((await r.json()) as { id: string }).id;
      }),
    );
    const jobs = await Promise.all(ids.map((id) => waitJob(stack, id, 180_000)));
    for (const j of jobs) expect(j.state).toBe('succeeded');
    // They ran side by side (the host's limit is 10), yet the image server saw one download.
    const windows = jobs.map((j) => [Date.parse(String(j.started_at)), Date.parse(String(j.finished_at))] as const);
    const overlap = Math.max(...windows.map(([s]) => windows.filter(([x, y]) => x <= s && s < y).length));
    expect(overlap).toBeGreaterThan(1);
    expect(images.requests.filter((r) => r === '/b.qcow2').length - before).toBe(1);
    const dels = await Promise.all(names.map(async (n) => ((await (await stack.fetch(`/v1/vms/r1/${n}`, { method: 'DELETE' })).json()) as { id: string }).id));
    for (const id of dels) expect((await waitJob(stack, id, 180_000)).state).toBe('succeeded');
  }, 300_000);
});

describe('downloads and their checksums', () => {
  let stack: Stack;
  let fast: ImageServer;
  const wrong = uniqueName('bad');
  const plain = uniqueName('plain');
  const vms: string[] = [];
  const hv = makeHypervisor(host);
  const hashOf = (file: string) =>
    createHash('sha256')
      .update(readFileSync(join(fast.dir, file)))
      .digest('hex');

  beforeAll(async () => {
    // Content no earlier run cached (a size of its own), served at full speed.
    fast = await startImageServer(
      makeImages([
        { name: 'w.qcow2', sizeMiB: 48 + Math.floor(Math.random() * 10_000) },
        { name: 'p.qcow2', sizeMiB: 48 + Math.floor(Math.random() * 10_000) },
      ]),
    );
    stack = await startStack({
      host,
      images: { [wrong]: { url: fast.url('w.qcow2'), sha256: 'f'.repeat(64) }, [plain]: { url: fast.url('p.qcow2') } },
    });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    for (const n of vms) await hv.undefine(n).catch(() => undefined);
    await hv.close();
    await fast?.close();
  });

  const create = async (image: string) => {
    const vm_name = uniqueName('ck');
    vms.push(vm_name);
    const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name, region_name: 'r1', instance_type: 'tiny', image }) });
    expect(r.status).toBe(202);
    const job = await waitJob(stack, ((await r.json()) as { id: string }).id, 120_000);
    return { vm_name, job: job as { state: string; error: { code: string; message: string } | null } };
  };

  it('a wrong catalog checksum fails the create with a clear reason, boots nothing and caches nothing', async () => {
    const { vm_name, job } = await create(wrong);
    expect(job.state).toBe('failed');
    expect(job.error?.code).toBe('CHECKSUM_MISMATCH');
    expect(job.error?.message).toContain(`expected sha256 ${'f'.repeat(64)}, got ${hashOf('w.qcow2')}`);
    const files = readdirSync(host.images_dir);
    expect(files).not.toContain(`sha256-${hashOf('w.qcow2')}`);
    expect(files).not.toContain(`sha256-${'f'.repeat(64)}`);
    // Nor a download of it under a temporary name. Told by its content: the shared cache holds other tests'
    // downloads (and earlier runs' cached ones) of empty qcow2 images, which all have the same byte size.
    const contentOf = (f: string) => {
      try {
        return createHash('sha256')
          .update(readFileSync(join(host.images_dir, f)))
          .digest('hex');
      } catch {
        return null; // another test's temporary file, gone meanwhile
      }
    };
    expect(files.filter((f) => /^(\.download-|dl-)/.test(f) && !f.endsWith('.sha256') && contentOf(f) === hashOf('w.qcow2'))).toEqual([]);
    expect(existsSync(join(host.images_dir, 'by-name', wrong))).toBe(false);
    expect((await hv.listDomains()).some((d) => d.name === vm_name)).toBe(false);
    expect(existsSync(hv.paths(vm_name).disk)).toBe(false);
  }, 180_000);

  it('without a catalog checksum the image is used once downloaded, and its hash recorded when known', async () => {
    const { vm_name, job } = await create(plain);
    expect(job.state).toBe('succeeded');
    const backing = () =>
      JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', hv.paths(vm_name).disk], { encoding: 'utf8' }))['backing-filename'];
    const first = String(backing());
    expect(first).toMatch(new RegExp(`^${host.images_dir}/(dl-[A-Za-z0-9]{6}|sha256-${hashOf('p.qcow2')})$`));
    // Hashed on the host after the download: the name points to the content's hash, the same file under both names.
    const hashed = join(host.images_dir, `sha256-${hashOf('p.qcow2')}`);
    const deadline = Date.now() + 60_000;
    while (!existsSync(hashed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(join(host.images_dir, 'by-name', plain)).length).toBe(statSync(hashed).size);
    expect(execFileSync('readlink', [join(host.images_dir, 'by-name', plain)], { encoding: 'utf8' }).trim()).toBe(`../sha256-${hashOf('p.qcow2')}`);
    expect(statSync(first).ino).toBe(statSync(hashed).ino);
    expect(existsSync(join(host.images_dir, 'versions', plain, hashOf('p.qcow2')))).toBe(true);
    if (first.includes('/dl-')) expect(readFileSync(`${first}.sha256`, 'utf8').trim()).toBe(hashOf('p.qcow2'));
    // The next create of it is based on the hashed name, and the first VM's disk still reads.
    const next = await create(plain);
    expect(next.job.state).toBe('succeeded');
    expect(JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', hv.paths(next.vm_name).disk], { encoding: 'utf8' }))['backing-filename']).toBe(
      hashed,
    );
    expect(String(backing())).toBe(first);
    expect(fast.requests.filter((r) => r === '/p.qcow2')).toHaveLength(1);
  }, 180_000);
});

describe('a failed image-cache run', () => {
  let stack: Stack;

  beforeAll(async () => {
    // h2 is a host nobody listens for: its scheduled run fails as a whole (the connection is refused).
    const closed = await freePort();
    stack = await startStack({
      host,
      images: { [uniqueName('cf')]: { url: images.url('a.qcow2'), sha256: sha('a.qcow2') } },
      extraHosts: [hostConfig('h2', { ...host, port: closed })],
      extra: { image_cache: { interval_ms: 60_000, verify: false, keep_unused_versions: 1, prune_grace_minutes: 60 } },
    });
    // startStack's own bound on its processes coming up (2 min), not a tighter one.
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('shows its error and when in GET /v1/images, and that it failed in /ready, beside the host that is fine', async () => {
    type Host = { host: string; cached: boolean | null; run_error: { message: string; at: string } | null };
    let hosts: Host[] = [];
    const end = Date.now() + 60_000;
    for (;;) {
      const body = (await (await stack.fetch('/v1/images')).json()) as { images: Array<{ hosts: Host[] }> };
      hosts = body.images[0]?.hosts ?? [];
      if (hosts.find((h) => h.host === 'h2')?.run_error && hosts.find((h) => h.host === 'h1')?.cached !== null) break;
      if (Date.now() > end) throw new Error(`no failed run recorded: ${JSON.stringify(hosts)}\n${stack.logs.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const h2 = hosts.find((h) => h.host === 'h2');
    expect(h2?.cached).toBeNull();
    expect(h2?.run_error?.message).toMatch(/r1\/h2/);
    expect(Date.parse(h2?.run_error?.at ?? '')).not.toBeNaN();
    expect(hosts.find((h) => h.host === 'h1')).toMatchObject({ cached: true, run_error: null });

    const ready = (await (await fetch(`${stack.url}/ready`)).json()) as { hosts: Array<{ host: string; image_cache: Record<string, unknown> }> };
    expect(ready.hosts.find((h) => h.host === 'h2')?.image_cache).toEqual({ status: 'failed', checked_at: null, failed_at: h2?.run_error?.at });
    expect(ready.hosts.find((h) => h.host === 'h1')?.image_cache).toMatchObject({ status: 'ok', failed_at: null });
  });
});
