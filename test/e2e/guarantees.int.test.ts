/**
 * Guarantees under load with the real stack: bad input changes nothing; operations on one VM never
 * overlap and keep submission order; a host never runs more operations than its limit across three
 * worker processes; a create that fails for good leaves no domain, disk or seed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { HOSTILE } from '../support/hostile.ts';
import { type Stack, startStack, waitJob, workSpan } from '../support/stack.ts';

const host = inject('loopbackHost');
let stack: Stack;
let images: ImageServer;
const hv = makeHypervisor(host);
const made: string[] = [];
// Each VM of the limit test gets an image of its own, so each create downloads (slowly) on the host.
const slowImages = Array.from({ length: 6 }, (_, i) => `slow${i}.qcow2`);
const imageNames: Record<string, string> = {};

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 64 }, ...slowImages.map((name, i) => ({ name, sizeMiB: 64 + i }))]), {
    bytesPerSecond: 400 * 1024,
  });
  const catalog: Record<string, { url: string }> = {};
  for (const f of ['tiny.qcow2', ...slowImages]) {
    imageNames[f] = uniqueName(f.replace('.qcow2', ''));
    catalog[imageNames[f]] = { url: images.url(f) };
  }
  catalog[uniqueName('missing')] = { url: images.url('missing.qcow2') };
  stack = await startStack({
    host,
    images: catalog,
    workers: 3,
    maxConcurrent: 2,
    extra: {
      regions: [
        {
          region_name: 'r1',
          available_instance_types: [
            { instance_type: 'tiny', vcpus: 1, memory_mb: 64, storage_mb: 256 },
            // More vCPUs than QEMU's i440fx machine allows: defining works, starting fails for real.
            { instance_type: 'impossible', vcpus: 400, memory_mb: 64, storage_mb: 256 },
          ],
          hosts: [
            {
              name: 'h1',
              address: host.address,
              port: host.port,
              user: host.user,
              private_key_path: host.private_key_path,
              host_key_fingerprint: host.host_key_fingerprint,
              network: 'none',
              max_concurrent_operations: 2,
              images_dir: host.images_dir,
              disks_dir: host.disks_dir,
            },
          ],
        },
      ],
    },
  });
});

afterAll(async () => {
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await stack?.stop();
  await images?.close();
  await hv.close();
});

/** Operation jobs in the host queue (the workers' scheduled inventory refreshes are not counted). */
async function queueCounts(): Promise<number> {
  const q = new Queue('ops.r1.h1', { connection: stack.redis, prefix: stack.prefix });
  const jobs = await q.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized']);
  await q.close();
  return jobs.filter((j) => j.name !== 'refresh').length;
}

describe('bad input', () => {
  const good = () => ({ vm_name: uniqueName('bad'), region_name: 'r1', instance_type: 'tiny', image: imageNames['tiny.qcow2'], tags: { owner: 'x' } });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const cases: Array<[string, Record<string, unknown> | string, number[], string?]> = [
    ...HOSTILE.map((n) => [`vm_name ${JSON.stringify(n)}`, { ...good(), vm_name: n }, [400, 422]] as [string, Record<string, unknown>, number[]]),
    ['vm_name too long', { ...good(), vm_name: 'a'.repeat(64) }, [400, 422]],
    ['unknown region', { ...good(), region_name: 'nowhere' }, [400, 404, 422]],
    ['unknown instance type', { ...good(), instance_type: 'gigantic' }, [400, 404, 422]],
    ['unknown image', { ...good(), image: 'no-such-image' }, [400, 404, 422]],
    ['user_data not base64', { ...good(), user_data: 'not base64 !!!' }, [400, 422]],
    ['user_data not YAML', { ...good(), user_data: b64('key: [unclosed\n  - : :') }, [400, 422]],
    ['tag value with a newline', { ...good(), tags: { owner: 'a\nb' } }, [400, 422]],
    ['tag value U+FFFE (XML cannot hold it)', { ...good(), tags: { owner: 'a\uFFFEb' } }, [422]],
    ['tag value U+FFFF (XML cannot hold it)', { ...good(), tags: { owner: '\uFFFF' } }, [422]],
    ['malformed JSON', '{"vm_name": ', [400]],
    ['oversized body', JSON.stringify({ ...good(), user_data: b64('#cloud-config\n'.padEnd(1.5 * 1024 * 1024, '#')) }), [413]],
  ];

  it.each(cases)('%s → 4xx, nothing queued, nothing on the host', async (_label, body, statuses) => {
    const before = new Set((await hv.listDomains()).map((d) => d.name));
    for (const path of ['/v1/vms', '/v1/create']) {
      const r = await stack.fetch(path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
      expect(statuses).toContain(r.status);
      const err = (await r.json()) as { error: { code: string; message: string }; detail: string };
      expect(err.error.message).toBeTruthy();
      expect(err.detail).toBeTruthy();
      expect(JSON.stringify(err)).not.toMatch(/at .*\.ts:\d+/);
    }
    expect(await queueCounts()).toBe(0);
    // Other suites may define domains on the shared host meanwhile: look for anything made from this input.
    const vmName = typeof body === 'string' ? '' : String(body.vm_name ?? '');
    const stem = vmName.toLowerCase().replace(/[^a-z0-9-]/g, '');
    const fresh = (await hv.listDomains()).filter((d) => !before.has(d.name));
    expect(fresh.filter((d) => stem !== '' && d.name === stem)).toEqual([]);
  });

  it('refuses a missing token (401), a wrong token (401) and a read-only token on a mutation (403)', async () => {
    const body = JSON.stringify(good());
    expect((await stack.fetch('/v1/vms', { method: 'POST', body, token: null })).status).toBe(401);
    expect((await stack.fetch('/v1/vms', { method: 'POST', body, token: 'x'.repeat(24) })).status).toBe(401);
    expect((await stack.fetch('/v1/vms', { method: 'POST', body, token: stack.tokens.read })).status).toBe(403);
    expect((await stack.fetch('/v1/vms', { token: stack.tokens.read })).status).toBe(200);
    expect(await queueCounts()).toBe(0);
  });
});

describe('ordering and limits', () => {
  it('runs one VM’s operations one at a time in submission order, and never more than 2 operations on the host', async () => {
    const names = slowImages.map(() => uniqueName('lim'));
    made.push(...names);
    const submit = async (method: string, path: string, body?: unknown) => {
      const r = await stack.fetch(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
      expect(r.status).toBe(202);
      return ((await r.json()) as { id: string }).id;
    };
    const creates = await Promise.all(
      names.map((n, i) => submit('POST', '/v1/vms', { vm_name: n, region_name: 'r1', instance_type: 'tiny', image: imageNames[slowImages[i] as string] })),
    );
    // Queued behind the (slow) create of the same VM, in this order.
    const first = names[0] as string;
    const followUps = [
      await submit('PUT', `/v1/vms/r1/${first}/tags`, { tags: { step: '1' } }),
      await submit('POST', `/v1/vms/r1/${first}/stop`, { force: true }),
      await submit('PUT', `/v1/vms/r1/${first}/tags`, { tags: { step: '3' } }),
      await submit('POST', `/v1/vms/r1/${first}/start`),
    ];
    const results = await Promise.all([...creates, ...followUps].map((id) => waitJob(stack, id, 300_000)));
    for (const r of results) expect(r.state).toBe('succeeded');

    // Each operation's work on the host starts after the previous one's ended.
    const sameVm = [results[0], ...results.slice(creates.length)] as Array<Record<string, unknown>>;
    for (let i = 1; i < sameVm.length; i++) {
      expect(workSpan(sameVm[i] as Record<string, unknown>)[0]).toBeGreaterThanOrEqual(workSpan(sameVm[i - 1] as Record<string, unknown>)[1]);
    }
    const vm = (await (await stack.fetch(`/v1/vms/r1/${first}`)).json()) as { tags: Record<string, string>; state: string };
    expect(vm).toMatchObject({ tags: { step: '3' }, state: 'running' });

    // Host-side concurrency: the image server saw each download's start and end.
    const windows = results.slice(0, creates.length).map((r) => [Date.parse(String(r.started_at)), Date.parse(String(r.finished_at))] as const);
    let maxOverlap = 0;
    for (const [s] of windows) maxOverlap = Math.max(maxOverlap, windows.filter(([a, b]) => a <= s && s < b).length);
    expect(maxOverlap).toBeLessThanOrEqual(2);
    expect(maxOverlap).toBe(2);
    expect(images.maxConcurrent).toBeLessThanOrEqual(2);
  });

  it('a create that fails for good leaves no domain, disk or seed, and says why', async () => {
    const name = uniqueName('fail');
    made.push(name);
    const r = await stack.fetch('/v1/vms', {
      method: 'POST',
      body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'impossible', image: imageNames['tiny.qcow2'] }),
    });
    expect(r.status).toBe(202);
    const job = (await waitJob(stack, ((await r.json()) as { id: string }).id)) as {
      state: string;
      error: { code: string; message: string };
      steps: Array<{ name: string; state: string }>;
    };
    expect(job.state).toBe('failed');
    expect(job.error.code).toBe('COMMAND_FAILED');
    // The disk and seed were made before the failing step (define or start, as libvirt decides).
    expect(job.steps.find((s) => s.name === 'create-seed')?.state).toBe('succeeded');
    expect(job.steps.filter((s) => s.state === 'failed').map((s) => s.name)).toEqual([expect.stringMatching(/^(define|start)$/)]);
    const paths = hv.paths(name);
    expect(existsSync(paths.disk)).toBe(false);
    expect(existsSync(paths.seed)).toBe(false);
    expect((await hv.listDomains()).some((d) => d.name === name)).toBe(false);
    // The name is free again.
    expect((await stack.fetch(`/v1/vms/r1/${name}`)).status).toBe(404);
  });

  it('a create whose name a domain it did not make holds on the host fails, and leaves that domain, its disk and its seed alone', async () => {
    const name = uniqueName('foreign');
    made.push(name);
    // Someone else's VM of that name, made on the host directly (the inventory does not list it yet).
    const image = await hv.ensureImage({ name: imageNames['tiny.qcow2'] as string, url: images.url('tiny.qcow2') });
    const disk = await hv.createDisk(name, image.path, 256 * 1024 * 1024);
    const seed = await hv.createSeed(name, 'someone-else', '#cloud-config\n{}\n');
    await hv.defineDomain({ name, instanceId: 'someone-else', vcpus: 1, memoryMiB: 64, diskPath: disk.path, seedPath: seed.path, tags: {} });
    const seedBefore = readFileSync(seed.path);
    const diskBefore = statSync(disk.path).mtimeMs;
    const r = await stack.fetch('/v1/vms', {
      method: 'POST',
      body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image: imageNames['tiny.qcow2'] }),
    });
    expect(r.status).toBe(202);
    const job = (await waitJob(stack, ((await r.json()) as { id: string }).id)) as {
      state: string;
      error: { code: string };
      steps: Array<{ name: string; state: string }>;
    };
    expect(job).toMatchObject({ state: 'failed', error: { code: 'ALREADY_EXISTS' } });
    expect(job.steps.filter((s) => ['create-disk', 'create-seed', 'define', 'start'].includes(s.name)).map((s) => s.state)).toEqual([
      'pending',
      'pending',
      'pending',
      'pending',
    ]);
    expect((await hv.getDomain(name)).instanceId).toBe('someone-else');
    expect(readFileSync(seed.path)).toEqual(seedBefore);
    expect(statSync(disk.path).mtimeMs).toBe(diskBefore);
  });
});
