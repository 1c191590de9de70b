/**
 * Job history under background load (real API and worker processes, real Redis, the loopback host): a
 * user's finished job stays readable and listed while the scheduled inventory refreshes keep ending in
 * the same host queue (BullMQ trims a queue's whole finished set to the count a job ends with, so the
 * scheduled jobs must not carry one); their outcome stays in the host's inventory entry. Nor do listings
 * polled with `refresh=true` push an operation out of a small `retention_max_jobs` (their refresh jobs are
 * removed as they end, as the scheduled ones). The per-queue cap shows in the API's metrics once
 * operations reach it.
 */
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { hostQueueName } from '@provisioner/contracts';
import { keys } from '@provisioner/store/testing';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { parseMetrics, sample } from '../support/prom.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
const RETENTION = 2 * 86_400;
const worker = { port: 0, attempts: 3, backoff_ms: 300, stop_timeout_ms: 2000, lock_duration_ms: 10_000, stalled_interval_ms: 5_000 };
let stack: Stack;
let images: ImageServer;
let image: string;
const made: string[] = [];

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 16 }]));
  image = uniqueName('tiny');
  // A refresh every 100 ms: fifty of them end within seconds.
  stack = await startStack({
    host,
    images: { [image]: { url: images.url('tiny.qcow2') } },
    extra: { retention_seconds: RETENTION, worker: { ...worker, inventory_refresh_ms: 100 } },
  });
});

afterAll(async () => {
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await stack?.stop();
  await images?.close();
  await hv.close();
});

/** The worker's /metrics (its port from its 'worker ready' line). */
async function workerMetrics(s: Stack) {
  const line = s.logs.find((l) => l.startsWith('[worker0] ') && l.includes('"worker ready"'));
  const port = (JSON.parse(line?.slice('[worker0] '.length) ?? '{}') as { port: number }).port;
  return parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${s.tokens.read}` } })).text());
}

const refreshes = async (s: Stack) => sample(await workerMetrics(s), 'provisioner_worker_jobs_total', { kind: 'refresh', outcome: 'succeeded' });

describe('job history under background load', () => {
  it('keeps a succeeded create readable and listed after 50 scheduled refreshes of its host', async () => {
    const name = uniqueName('ret');
    made.push(name);
    const res = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image }) });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect((await waitJob(stack, id)).state).toBe('succeeded');

    const queue = new Queue(hostQueueName('r1', 'h1'), { connection: stack.redis, prefix: stack.prefix });
    try {
      // Kept for the configured retention, and so is the record of its queue.
      const job = await queue.getJob(id);
      expect(job?.opts.removeOnComplete).toEqual({ age: RETENTION, count: 10_000 });
      const ttl = await stack.redis.ttl(keys.jobQueue(stack.prefix, id));
      expect(ttl).toBeGreaterThan(RETENTION);
      expect(ttl).toBeLessThanOrEqual(RETENTION + 3600);

      const before = await refreshes(stack);
      const end = Date.now() + 90_000;
      while ((await refreshes(stack)) < before + 50) {
        if (Date.now() > end) throw new Error(`fewer than 50 refreshes in 90 s\n${stack.logs.slice(-20).join('\n')}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const afterRefreshes = new Date().toISOString();

      const read = await stack.fetch(`/v1/jobs/${id}`);
      expect(read.status).toBe(200);
      expect(((await read.json()) as { state: string }).state).toBe('succeeded');
      const list = (await (await stack.fetch('/v1/jobs?kind=create&limit=500')).json()) as { jobs: Array<{ id: string }> };
      expect(list.jobs.map((j) => j.id)).toContain(id);

      // The scheduled jobs left nothing in the finished sets: their outcome is the host's entry.
      const finished = await queue.getJobs(['completed', 'failed'], 0, -1);
      expect(finished.filter((j) => !String(j.id).startsWith('job_')).map((j) => j.id)).toEqual([]);
      // A refresh ends at most one interval after the next scrape: wait for one listing after the count.
      let observed = '';
      for (let i = 0; i < 40 && !(observed > afterRefreshes); i++) {
        await new Promise((r) => setTimeout(r, 100));
        const ready = (await (await stack.fetch('/ready')).json()) as { hosts: Array<{ host: string; observed_at: string | null; status: string }> };
        const h1 = ready.hosts.find((h) => h.host === 'h1');
        // Listed, never failing (a listing may outlast three 100 ms periods on a loaded machine: `stale`).
        expect(['ok', 'stale']).toContain(h1?.status);
        observed = h1?.observed_at ?? '';
      }
      expect(observed > afterRefreshes).toBe(true);

      const del = await stack.fetch(`/v1/vms/r1/${name}`, { method: 'DELETE' });
      expect(del.status).toBe(202);
      expect((await waitJob(stack, ((await del.json()) as { id: string }).id)).state).toBe('succeeded');
    } finally {
      await queue.close();
    }
  });
});

describe('the per-queue cap', () => {
  let small: Stack;
  const name = uniqueName('cap');
  let createId = '';
  beforeAll(async () => {
    small = await startStack({
      host,
      // `broken`: its server does not have it (404), so its create fails for good at once.
      images: { [image]: { url: images.url('tiny.qcow2') }, broken: { url: images.url('no-such.qcow2') } },
      extra: { retention_max_jobs: 2 },
    });
  });
  afterAll(async () => {
    await hv.undefine(name).catch(() => undefined);
    await small?.stop();
  });

  const metrics = async () => {
    const r = await small.fetch('/metrics', { token: small.tokens.read });
    expect(r.status).toBe(200);
    return parseMetrics(await r.text());
  };
  const hostQueue = hostQueueName('r1', 'h1');

  it('keeps an operation readable and listed while listings with refresh poll far past retention_max_jobs', async () => {
    const res = await small.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image }) });
    expect(res.status).toBe(202);
    createId = ((await res.json()) as { id: string }).id;
    expect((await waitJob(small, createId)).state).toBe('succeeded');

    // Three times the cap of polling (a dashboard's `?refresh=true`, the legacy list, one VM's refresh): each
    // lists the host again through a refresh job of the host's queue, and each sees the VM it listed.
    for (let i = 0; i < 6; i++) {
      const r = await small.fetch('/v1/vms?refresh=true');
      expect(r.status).toBe(200);
      const page = (await r.json()) as { vms: Array<{ vm_name: string }>; hosts: Array<{ host: string; error: string | null }> };
      expect(page.vms.map((v) => v.vm_name)).toContain(name);
      expect(page.hosts.find((h) => h.host === 'h1')?.error).toBeNull();
    }
    expect((await small.fetch('/v1/list')).status).toBe(200);
    expect((await small.fetch(`/v1/vms/r1/${name}?refresh=true`)).status).toBe(200);
    const submitted = sample(await metrics(), 'provisioner_jobs_submitted_total', { kind: 'refresh' });
    expect(submitted).toBeGreaterThanOrEqual(8);
    // The API saw each of its refreshes end although the job was gone when it looked.
    expect(small.logs.filter((l) => l.includes('inventory refresh did not finish in time'))).toEqual([]);

    const read = await small.fetch(`/v1/jobs/${createId}`);
    expect(read.status).toBe(200);
    expect(((await read.json()) as { state: string }).state).toBe('succeeded');
    const listed = (await (await small.fetch('/v1/jobs?limit=500')).json()) as { jobs: Array<{ id: string; kind: string }> };
    expect(listed.jobs.map((j) => j.id)).toContain(createId);
    // Ended refreshes are not history: not listed, not counted against the cap.
    expect(listed.jobs.filter((j) => j.kind === 'refresh')).toEqual([]);
    const m = await metrics();
    expect(sample(m, 'provisioner_queue_jobs', { queue: hostQueue, state: 'completed' })).toBe(1);
    expect(sample(m, 'provisioner_queue_retention_full', { queue: hostQueue, state: 'completed' })).toBe(0);
    // Nor do they leave the record of their queue behind for the retention: the create's alone stays
    // (the worker drops a refresh's just after the job ends, which the API may see first).
    const records = async () => (await small.redis.keys(`${small.prefix}:jobq:*`)).sort();
    for (let i = 0; i < 50 && (await records()).length > 1; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await records()).toEqual([keys.jobQueue(small.prefix, createId)]);
  });

  it('shows in the API metrics once a queue holds retention_max_jobs finished operations', async () => {
    const m0 = await metrics();
    expect(sample(m0, 'provisioner_queue_retention_cap')).toBe(2);
    expect(sample(m0, 'provisioner_queue_retention_full', { queue: hostQueue, state: 'completed' })).toBe(0);
    // Two tag edits after the create: three finished operations in a queue that keeps two.
    for (const env of ['a', 'b']) {
      const r = await small.fetch(`/v1/vms/r1/${name}/tags`, { method: 'PUT', body: JSON.stringify({ tags: { env } }) });
      expect(r.status).toBe(202);
      expect((await waitJob(small, ((await r.json()) as { id: string }).id)).state).toBe('succeeded');
    }
    const m1 = await metrics();
    expect(sample(m1, 'provisioner_queue_jobs', { queue: hostQueue, state: 'completed' })).toBe(2);
    expect(sample(m1, 'provisioner_queue_retention_full', { queue: hostQueue, state: 'completed' })).toBe(1);
    expect(sample(m1, 'provisioner_queue_retention_full', { queue: hostQueue, state: 'failed' })).toBe(0);
    // The bound removes the oldest operation early, as documented.
    expect((await small.fetch(`/v1/jobs/${createId}`)).status).toBe(404);
  });

  it('failed console reads answer their error and are removed: they push no operation’s failure out of the cap', async () => {
    const failed = uniqueName('capf');
    made.push(failed);
    const res = await small.fetch('/v1/vms', {
      method: 'POST',
      body: JSON.stringify({ vm_name: failed, region_name: 'r1', instance_type: 'tiny', image: 'broken' }),
    });
    expect(res.status).toBe(202);
    const failedId = ((await res.json()) as { id: string }).id;
    expect(await waitJob(small, failedId)).toMatchObject({ state: 'failed', error: { code: 'DOWNLOAD_FAILED' } });

    // A stopped VM whose console log is made unreadable: a directory in its place (tail fails on it).
    const vm = uniqueName('capc');
    made.push(vm);
    const created = await small.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: vm, region_name: 'r1', instance_type: 'tiny', image }) });
    expect((await waitJob(small, ((await created.json()) as { id: string }).id)).state).toBe('succeeded');
    const stop = await small.fetch(`/v1/vms/r1/${vm}/stop`, { method: 'POST', body: JSON.stringify({ force: true }) });
    expect((await waitJob(small, ((await stop.json()) as { id: string }).id)).state).toBe('succeeded');
    const log = `${host.disks_dir}/${vm}.console.log`;
    rmSync(`${log}.kept`, { force: true });
    renameSync(log, `${log}.kept`);
    mkdirSync(log);
    try {
      // More failed reads than the queue keeps failures.
      for (let i = 0; i < 3; i++) {
        const r = await small.fetch(`/v1/vms/r1/${vm}/console`);
        expect(r.status).toBe(502);
        const body = (await r.json()) as { error: { code: string; message: string; details: { job_error: { code: string } } } };
        expect(body.error.code).toBe('JOB_FAILED');
        expect(body.error.details.job_error.code).toBe('COMMAND_FAILED');
        expect(body.error.message).toContain('console-tail');
      }
    } finally {
      rmSync(log, { recursive: true, force: true });
      renameSync(`${log}.kept`, log);
    }
    // The failed create is still readable and listed; the failed set holds it alone.
    const read = await small.fetch(`/v1/jobs/${failedId}`);
    expect(read.status).toBe(200);
    expect(((await read.json()) as { state: string }).state).toBe('failed');
    const queue = new Queue(hostQueue, { connection: small.redis, prefix: small.prefix });
    try {
      expect((await queue.getJobs(['failed'], 0, -1)).map((j) => j.id)).toEqual([failedId]);
    } finally {
      await queue.close();
    }
    const listed = (await (await small.fetch('/v1/jobs?state=failed&limit=500')).json()) as { jobs: Array<{ id: string; kind: string }> };
    expect(listed.jobs.map((j) => j.id)).toEqual([failedId]);
  });
});
