import type { JobView } from '@provisioner/contracts';
import { endOutcome, VmLedger } from '@provisioner/store';
import { keys } from '@provisioner/store/testing';
import { describe, expect, it } from 'vitest';
import { fakeWorker, sleep, TOKENS, useHarness } from './harness.ts';

const h = useHarness();

const create = (vm_name: string) => ({ vm_name, region_name: 'r2', instance_type: 'tiny', image: 'v0.76.0' });
async function submit(method: string, path: string, json?: unknown): Promise<JobView> {
  const r = await h.fetch(path, { method, json });
  expect(r.status, `${method} ${path}`).toBe(202);
  return (await r.json()) as JobView;
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await sleep(20);
  }
}

describe('POST /v1/jobs/{id}/cancel', () => {
  it('a queued job ends canceled at once and never runs; its name and its VM turn are freed', async () => {
    const job = await submit('POST', '/v1/vms', create('c-queued'));
    const later = await submit('POST', '/v1/vms/r2/c-queued/start');
    expect((await h.fetch(`/v1/jobs/${job.id}/cancel`, { method: 'POST', token: TOKENS.read })).status).toBe(403);

    const r = await h.fetch(`/v1/jobs/${job.id}/cancel`, { method: 'POST', token: TOKENS.write });
    expect(r.status).toBe(200);
    const view = (await r.json()) as JobView;
    expect(view.state).toBe('canceled');
    expect(view.error).toEqual({ code: 'CANCELED', message: "canceled by token 'writer'", retryable: false });
    expect(view.finished_at).not.toBeNull();
    expect(view.links.cancel).toBe(`/v1/jobs/${job.id}/cancel`);
    expect(((await (await h.fetch(`/v1/jobs/${job.id}`)).json()) as JobView).state).toBe('canceled');
    const listed = (await (await h.fetch('/v1/jobs?state=canceled')).json()) as { jobs: JobView[] };
    expect(listed.jobs.map((j) => j.id)).toContain(job.id);
    // Its VM's line now starts with the next operation, and the name is free again.
    expect(await h.redis.zrange(keys.vmOps(h.prefix, 'r2', 'c-queued'), 0, -1)).toEqual([later.id]);
    expect(await h.redis.exists(keys.vmHost(h.prefix, 'r2', 'c-queued'))).toBe(0);

    // A worker coming up now runs the next job, never the canceled one.
    const ran: string[] = [];
    const w = fakeWorker(h, 'r2', 'h1', async (j) => {
      ran.push(String(j.id));
      return { ok: true };
    });
    try {
      await until(
        () => h.fetch(`/v1/jobs/${later.id}`).then((x) => x.json() as Promise<JobView>),
        (v) => v.state === 'succeeded',
      );
      expect(ran).toEqual([later.id]);
    } finally {
      await w.close();
    }
    const again = await h.fetch(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('CONFLICT');
  });

  it('a queued create canceled, then its end settled again as a worker would: once only, a new create of the name keeps it', async () => {
    const job = await submit('POST', '/v1/vms', create('c-twice'));
    expect((await h.fetch(`/v1/jobs/${job.id}/cancel`, { method: 'POST' })).status).toBe(200);
    expect(await h.redis.exists(keys.vmHost(h.prefix, 'r2', 'c-twice'))).toBe(0);
    // The name is free, and taken again ...
    const again = await submit('POST', '/v1/vms', create('c-twice'));
    // ... when the canceled job's end is settled once more, from the job as BullMQ ended it (the worker's
    // `failed` event, or isMyTurn for a finished head).
    const found = await h.queues.find(job.id);
    if (!found) throw new Error('the canceled job is gone');
    expect(found.state).toBe('failed');
    expect(await new VmLedger(h.redis, h.prefix).settle(found.queue, found.job, endOutcome(found.job))).toBe(false);
    expect(await h.redis.get(keys.vmHost(h.prefix, 'r2', 'c-twice'))).toBe('h1');
    expect(await h.redis.hexists(keys.pendingCreates(h.prefix, 'r2', 'h1'), 'c-twice')).toBe(1);
    expect(await h.redis.zrange(keys.vmOps(h.prefix, 'r2', 'c-twice'), 0, -1)).toEqual([again.id]);
    expect((await h.fetch(`/v1/jobs/${again.id}/cancel`, { method: 'POST' })).status).toBe(200);
  });

  it('a create waiting for its retry is handed to a worker to cancel (it may have left work on the host)', async () => {
    let attempts = 0;
    const w = fakeWorker(h, 'r2', 'h1', async () => {
      attempts++;
      throw new Error(JSON.stringify({ code: 'CONNECTION', message: 'lost', retryable: true }));
    });
    const job = await submit('POST', '/v1/vms', create('c-retry'));
    const found = await until(
      async () => (await h.queues.find(job.id))?.state,
      (st) => st === 'delayed',
    );
    expect(found).toBe('delayed');
    await w.close();
    const r = await h.fetch(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(r.status).toBe(202);
    expect(attempts).toBe(1);
    // Marked for the worker, and no longer waiting out its backoff.
    expect(await h.redis.get(keys.cancel(h.prefix, job.id))).toBe("token 'admin'");
    expect((await h.queues.find(job.id))?.state).toBe('waiting');
    // The name stays reserved until the worker's cleanup has checked the host.
    expect(await h.redis.exists(keys.vmHost(h.prefix, 'r2', 'c-retry'))).toBe(1);
  });

  it('a running job is announced to the workers (202) and marked; finished jobs are 409; unknown 404', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const w = fakeWorker(h, 'r1', 'h1', async () => {
      await gate;
      return { ok: true };
    });
    await h.writeInventory('r1', 'h1', [{ name: 'c-running' }]);
    const sub = h.redis.duplicate({ enableOfflineQueue: true });
    const heard: string[] = [];
    await sub.subscribe(keys.cancelChannel(h.prefix));
    sub.on('message', (_ch, id) => heard.push(id));
    try {
      const job = await submit('POST', '/v1/vms/r1/c-running/start');
      await until(
        () => h.fetch(`/v1/jobs/${job.id}`).then((x) => x.json() as Promise<JobView>),
        (v) => v.state === 'running',
      );
      const r = await h.fetch(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
      expect(r.status).toBe(202);
      expect(r.headers.get('location')).toBe(`/v1/jobs/${job.id}`);
      expect(await h.redis.get(keys.cancel(h.prefix, job.id))).toBe("token 'admin'");
      await until(
        async () => heard.length,
        (n) => n > 0,
      );
      expect(heard).toEqual([job.id]);
      release();
      await until(
        () => h.fetch(`/v1/jobs/${job.id}`).then((x) => x.json() as Promise<JobView>),
        (v) => v.state === 'succeeded',
      );
      expect((await h.fetch(`/v1/jobs/${job.id}/cancel`, { method: 'POST' })).status).toBe(409);
      expect((await h.fetch('/v1/jobs/job_00000000000000000000000000000000/cancel', { method: 'POST' })).status).toBe(404);
    } finally {
      release();
      await sub.quit();
      await w.close();
    }
  });
});
