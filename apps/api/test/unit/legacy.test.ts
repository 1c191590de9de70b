import { hostQueueName, type JobErrorCode } from '@provisioner/contracts';
import { InventoryStore } from '@provisioner/store';
import { keys } from '@provisioner/store/testing';
import type { Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { b64, fail, fakeWorker, TOKENS, useHarness } from './harness.ts';

const workers: Worker[] = [];
const h = useHarness();
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
});

/** The chat bot's requests: the raw token, JSON bodies (also on DELETE). */
const bot = (path: string, method = 'GET', body?: unknown) =>
  fetch(`${h.url}${path}`, {
    method,
    headers: { authorization: TOKENS.admin, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe('catalog and health (legacy shapes)', () => {
  it('GET /health is {"status":"healthy"} without a token', async () => {
    const r = await fetch(`${h.url}/health`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'healthy' });
  });

  it('GET /v1/get-images lists image names without a token', async () => {
    const r = await fetch(`${h.url}/v1/get-images`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ images: ['v0.76.0', 'debian-12'] });
  });

  it('GET /v1/regions lists enabled regions with instance types, no hosts or credentials', async () => {
    const r = await bot('/v1/regions');
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body).toEqual([
      {
        region_name: 'r1',
        enabled: true,
        available_instance_types: [
          { instance_type: 'tiny', vcpus: 1, memory_mb: 512, storage_mb: 4096 },
          { instance_type: 'large', vcpus: 8, memory_mb: 16384, storage_mb: 102400 },
        ],
      },
      { region_name: 'r2', enabled: true, available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 512, storage_mb: 4096 }] },
    ]);
    expect(JSON.stringify(body)).not.toMatch(/h1|127\.0\.0\.1|key|SHA256/);
  });

  it('GET /v1/images lists names and checksums, not URLs (they may carry credentials)', async () => {
    const r = await bot('/v1/images');
    const body = (await r.json()) as { images: Array<{ name: string; sha256: string | null }> };
    expect(body.images.map(({ name, sha256 }) => ({ name, sha256 }))).toEqual([
      { name: 'v0.76.0', sha256: 'a'.repeat(64) },
      { name: 'debian-12', sha256: null },
    ]);
    expect(JSON.stringify(body)).not.toMatch(/example\.org|secret/);
  });

  it('GET /ready reports Redis and every host’s status, never why a host fails (it is open)', async () => {
    const error = "command 'list-domains' failed on r1/h2 with exit code 1: error: failed to connect to /var/run/libvirt/secret-path";
    await h.writeInventory('r1', 'h2', [], { error });
    const old = new Date(Date.now() - 3 * 3_600_000).toISOString();
    await h.writeInventory('r2', 'h1', [], { observed_at: old });
    await h.writeInventory('off', 'h1', []);
    const r = await fetch(`${h.url}/ready`);
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(text).not.toContain('secret-path');
    expect(text).not.toContain('"error"');
    const body = JSON.parse(text) as { status: string; hosts: Array<Record<string, unknown>> };
    expect(body.status).toBe('ready');
    const noCache = { status: 'unknown', checked_at: null, failed_at: null };
    expect(body.hosts).toContainEqual({
      region: 'r1',
      host: 'h2',
      status: 'unreachable',
      observed_at: expect.any(String),
      image_cache: noCache,
      disk_free_mb: null,
    });
    expect(body.hosts).toContainEqual({ region: 'r1', host: 'h1', status: 'unknown', observed_at: null, image_cache: noCache, disk_free_mb: null });
    expect(body.hosts).toContainEqual({ region: 'r2', host: 'h1', status: 'stale', observed_at: old, image_cache: noCache, disk_free_mb: null });
    expect(body.hosts).toContainEqual({ region: 'off', host: 'h1', status: 'ok', observed_at: expect.any(String), image_cache: noCache, disk_free_mb: null });
    expect(body.hosts).toHaveLength(4);
    // Token holders still read why (GET /v1/vms lists each host with its error).
    const vms = (await (await bot('/v1/vms')).json()) as { hosts: Array<{ host: string; error: string | null }> };
    expect(vms.hosts).toContainEqual(expect.objectContaining({ host: 'h2', error }));
  });

  it('a host’s failed image-cache run shows in /ready (when) and GET /v1/images (why and when); a run that ends clears it', async () => {
    const store = new InventoryStore(h.redis, h.prefix);
    const entry = { cached: true, sha256: 'a'.repeat(64), size_bytes: 1024, verified: true, downloaded: false, error: null };
    const checked = '2026-01-01T00:00:00.000Z';
    await store.putImageCache('r1', 'h1', { checked_at: checked, images: { 'v0.76.0': entry }, pruned: [] });
    const why = "connection to r1/h1 lost while running 'image-cache' (/srv/secret-path)";
    await store.putImageCacheError('r1', 'h1', { message: why, at: '2026-01-01T01:00:00.000Z' });
    // A host whose first run failed: nothing cached known, the failure is.
    await store.putImageCacheError('r2', 'h1', { message: 'host r2/h1 refused the connection', at: '2026-01-01T02:00:00.000Z' });

    const ready = await (await fetch(`${h.url}/ready`)).text();
    expect(ready).not.toContain('secret-path');
    const hosts = (JSON.parse(ready) as { hosts: Array<{ region: string; host: string; image_cache: unknown }> }).hosts;
    expect(hosts.find((x) => x.region === 'r1' && x.host === 'h1')?.image_cache).toEqual({
      status: 'failed',
      checked_at: checked,
      failed_at: '2026-01-01T01:00:00.000Z',
    });
    expect(hosts.find((x) => x.region === 'r2')?.image_cache).toEqual({ status: 'failed', checked_at: null, failed_at: '2026-01-01T02:00:00.000Z' });

    type ImagesBody = { images: Array<{ name: string; hosts: Array<Record<string, unknown>> }> };
    const images = (await (await bot('/v1/images')).json()) as ImagesBody;
    const v076 = images.images.find((i) => i.name === 'v0.76.0')?.hosts ?? [];
    // The cache as the last run that ended saw it, and why the last run failed.
    expect(v076.find((x) => x.region === 'r1' && x.host === 'h1')).toMatchObject({
      cached: true,
      checked_at: checked,
      run_error: { message: why, at: '2026-01-01T01:00:00.000Z' },
    });
    expect(v076.find((x) => x.region === 'r2')).toMatchObject({ cached: null, run_error: { message: 'host r2/h1 refused the connection' } });

    // The next run that ends writes its record without the error.
    await store.putImageCache('r1', 'h1', { checked_at: '2026-01-01T03:00:00.000Z', images: { 'v0.76.0': entry }, pruned: [], last_error: null });
    const after = (await (await fetch(`${h.url}/ready`)).json()) as { hosts: Array<{ region: string; host: string; image_cache: unknown }> };
    expect(after.hosts.find((x) => x.region === 'r1' && x.host === 'h1')?.image_cache).toEqual({
      status: 'ok',
      checked_at: '2026-01-01T03:00:00.000Z',
      failed_at: null,
    });
    const again = (await (await bot('/v1/images')).json()) as ImagesBody;
    expect(again.images[0]?.hosts.find((x) => x.region === 'r1' && x.host === 'h1')?.run_error).toBeNull();
  });
});

describe('GET /v1/list', () => {
  it('refreshes (bounded) and answers the old array shape over all regions', async () => {
    await h.writeInventory('r1', 'h1', [
      { name: 'amber-otter', state: 'running', dom_id: 12, tags: { owner: 'U123', description: 'from the bot' } },
      { name: 'old-thing', state: 'shut off', dom_id: null, managed: false, tags: {} },
    ]);
    await h.writeInventory('r2', 'h1', [{ name: 'paused-one', state: 'paused', dom_id: 3, tags: { owner: 'U9' } }]);
    let refreshed = 0;
    workers.push(
      fakeWorker(h, 'r2', 'h1', async (job) => {
        expect(job.data.kind).toBe('refresh');
        refreshed++;
        return {};
      }),
    );
    const t0 = Date.now();
    const r = await bot('/v1/list');
    expect(Date.now() - t0).toBeLessThan(h.config.refresh_wait_ms + 500);
    expect(r.status).toBe(200);
    expect(refreshed).toBe(1);
    expect(await r.json()).toEqual([
      { dom_id: '12', name: 'amber-otter', region_name: 'r1', state: 'running', tags: { owner: 'U123', description: 'from the bot' } },
      { dom_id: '-', name: 'old-thing', region_name: 'r1', state: 'shut off', tags: {} },
      { dom_id: '3', name: 'paused-one', region_name: 'r2', state: 'paused', tags: { owner: 'U9' } },
    ]);
  });
});

describe('legacy mutations wait for their job', () => {
  const createBody = (name: string) => ({
    vm_name: name,
    tags: { owner: 'U123', description: 'd', cde_token: 'abc' },
    user_data: b64('#cloud-config\n{}\n'),
    image: 'v0.76.0',
    region_name: 'r2',
    instance_type: 'tiny',
  });

  it('POST /v1/create → 200 {"message":"Success"} once the job succeeded', async () => {
    workers.push(fakeWorker(h, 'r2', 'h1'));
    const r = await bot('/v1/create', 'POST', createBody('bot-ok'));
    expect(await r.json()).toEqual({ message: 'Success' });
    expect(r.status).toBe(200);
  });

  it('answers 504 with the job id and link when the job has not finished in time (the job goes on)', async () => {
    const t0 = Date.now();
    const r = await bot('/v1/create', 'POST', createBody('bot-slow'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(h.config.legacy_create_wait_ms - 50);
    expect(r.status).toBe(504);
    const body = (await r.json()) as { detail: string; error: { code: string; job_id: string; details: { links: { self: string } } } };
    expect(body.error.code).toBe('TIMEOUT');
    expect(body.error.job_id).toMatch(/^job_/);
    expect(body.detail).toContain(`/v1/jobs/${body.error.job_id}`);
    expect(r.headers.get('location')).toBe(`/v1/jobs/${body.error.job_id}`);
    expect(body.error.details.links.self).toBe(`/v1/jobs/${body.error.job_id}`);
    const job = await h.queues.get(hostQueueName('r2', 'h1')).getJob(body.error.job_id);
    expect(await job?.getState()).toBe('waiting');
  });

  it.each<[JobErrorCode, number, string]>([
    ['DOMAIN_NOT_FOUND', 404, 'NOT_FOUND'],
    ['ALREADY_EXISTS', 409, 'CONFLICT'],
    ['COMMAND_FAILED', 502, 'JOB_FAILED'],
    ['CONNECTION', 502, 'JOB_FAILED'],
  ])('a job failing with %s answers %i with the job id', async (code, status, apiCode) => {
    await h.writeInventory('r2', 'h1', [{ name: 'bot-fail' }]);
    workers.push(
      fakeWorker(h, 'r2', 'h1', async () => {
        throw fail(code, `it failed: ${code}`);
      }),
    );
    const r = await bot('/v1/start', 'POST', { vm_name: 'bot-fail', region_name: 'r2' });
    const body = (await r.json()) as { detail: string; error: { code: string; job_id: string; details: unknown } };
    expect(r.status).toBe(status);
    expect(body.error.code).toBe(apiCode);
    expect(body.detail).toBe(`it failed: ${code}`);
    expect(body.error.job_id).toMatch(/^job_/);
    expect(body.error.details).toEqual({ job_error: { code, message: `it failed: ${code}`, retryable: false } });
  });

  it('POST /v1/stop is a hard power-off; /v1/start, /v1/edit-tags submit the same jobs as the new routes', async () => {
    await h.writeInventory('r2', 'h1', [{ name: 'bot-ops', state: 'running', dom_id: 5 }]);
    const seen: Array<Record<string, unknown>> = [];
    workers.push(
      fakeWorker(h, 'r2', 'h1', async (job) => {
        seen.push(job.data);
        return {};
      }),
    );
    for (const [path, body] of [
      ['/v1/stop', { vm_name: 'bot-ops', region_name: 'r2' }],
      ['/v1/start', { vm_name: 'bot-ops', region_name: 'r2' }],
      ['/v1/edit-tags', { vm_name: 'bot-ops', region_name: 'r2', tags: { owner: 'U123', description: 'edited' } }],
    ] as const) {
      const r = await bot(path, 'POST', body);
      expect(r.status, path).toBe(200);
      expect(await r.json()).toEqual({ message: 'Success' });
    }
    expect(seen).toMatchObject([
      { kind: 'stop', force: true, vm_name: 'bot-ops', host: 'h1', submitted_by: 'admin' },
      { kind: 'start', vm_name: 'bot-ops' },
      { kind: 'edit-tags', tags: { owner: 'U123', description: 'edited' } },
    ]);
  });

  it('ignore fields the replaced service did not know, as it did (the new routes answer 422 to them)', async () => {
    await h.writeInventory('r2', 'h1', [{ name: 'bot-extra', state: 'running', dom_id: 6 }]);
    const seen: Array<Record<string, unknown>> = [];
    workers.push(
      fakeWorker(h, 'r2', 'h1', async (job) => {
        seen.push(job.data);
        return {};
      }),
    );
    const extra = { flavour: 'small', name: 'x', force: false, host: 'h9', webhook_url: 'https://hooks.example/x' };
    for (const [method, path, body] of [
      ['POST', '/v1/create', { ...createBody('bot-extra-new'), ...extra }],
      ['POST', '/v1/start', { vm_name: 'bot-extra', region_name: 'r2', ...extra }],
      ['POST', '/v1/stop', { vm_name: 'bot-extra', region_name: 'r2', ...extra }],
      ['POST', '/v1/edit-tags', { vm_name: 'bot-extra', region_name: 'r2', tags: { owner: 'U1' }, ...extra }],
      ['DELETE', '/v1/delete', { vm_name: 'bot-extra', region_name: 'r2', ...extra }],
    ] as const) {
      const r = await bot(path, method, body);
      expect(r.status, path).toBe(200);
      expect(await r.json()).toEqual({ message: 'Success' });
    }
    expect(seen.map((d) => d.kind)).toEqual(['create', 'start', 'stop', 'edit-tags', 'delete']);
    // Ignored, not used: no pinned host (h9 does not exist), no callback, the legacy stop still forced.
    expect(seen[0]).toMatchObject({ host: 'h1' });
    expect(seen[2]).toMatchObject({ force: true });
    for (const d of seen) {
      expect(d).not.toHaveProperty('flavour');
      expect(d).not.toHaveProperty('webhook_url');
    }
    const strict = await bot('/v1/vms', 'POST', { ...createBody('bot-extra-2'), flavour: 'small' });
    expect(strict.status).toBe(422);
  });

  it('DELETE /v1/delete deletes a known VM and succeeds for one that does not exist (after a bounded refresh)', async () => {
    await h.writeInventory('r2', 'h1', [{ name: 'bot-del' }]);
    const kinds: string[] = [];
    workers.push(
      fakeWorker(h, 'r2', 'h1', async (job) => {
        kinds.push(job.data.kind);
        if (job.data.kind === 'delete') await h.writeInventory('r2', 'h1', []);
        return {};
      }),
    );
    const r1 = await bot('/v1/delete', 'DELETE', { vm_name: 'bot-del', region_name: 'r2' });
    expect(r1.status).toBe(200);
    expect(await r1.json()).toEqual({ message: 'Success' });
    expect(kinds).toEqual(['delete']);
    const r2 = await bot('/v1/delete', 'DELETE', { vm_name: 'bot-del', region_name: 'r2' });
    expect(r2.status).toBe(200);
    expect(await r2.json()).toEqual({ message: 'Success' });
    expect(kinds).toEqual(['delete', 'refresh']);
    expect(await h.redis.get(keys.vmHost(h.prefix, 'r2', 'bot-del'))).toBeNull();
  });
});
