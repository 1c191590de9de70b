/**
 * The image cache end to end: the scheduled image-cache job fills and verifies each host's cache and
 * GET /v1/images shows it per host; ten concurrent creates of an image no host has yet download it once.
 * Real API and worker processes, real Redis, the loopback host and its automation user's session libvirt
 * (cache only: the placement test counts that libvirt's VMs).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, sessionHost, startImageServer, uniqueName } from '../support/host.ts';
import { hostConfig, type Stack, startStack, waitJob } from '../support/stack.ts';

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
  }, 60_000);

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
  }, 60_000);

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
