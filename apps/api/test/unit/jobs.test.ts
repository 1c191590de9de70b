import type { JobView, ProgressData } from '@provisioner/contracts';
import { describe, expect, it } from 'vitest';
import { parseSse } from '../../../../test/support/net.ts';
import { changeKind } from '../../src/watch.ts';
import { fail, fakeWorker, sleep, TOKENS, useHarness } from './harness.ts';

const h = useHarness();

async function submit(method: string, path: string, json?: unknown): Promise<JobView> {
  const r = await h.fetch(path, { method, json });
  expect(r.status, `${method} ${path}`).toBe(202);
  return (await r.json()) as JobView;
}

async function readEvents(id: string): Promise<Array<{ event: string; id: string; data: JobView }>> {
  const r = await h.fetch(`/v1/jobs/${id}/events`, { token: TOKENS.read });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toContain('text/event-stream');
  expect(r.headers.get('x-request-id')).toBeTruthy();
  return parseSse<JobView>(await r.text());
}

describe('GET /v1/jobs/{id}', () => {
  it('reads a job back as the job contract, and 404 for unknown ids', async () => {
    const job = await submit('POST', '/v1/vms', { vm_name: 'j-read', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' });
    const r = await h.fetch(`/v1/jobs/${job.id}`, { token: TOKENS.read });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual(job);
    for (const id of ['job_00000000000000000000000000000000', 'nope', 'job_../../etc', `${job.id}x`]) {
      const nf = await h.fetch(`/v1/jobs/${encodeURIComponent(id)}`);
      expect(nf.status, id).toBe(404);
      expect(((await nf.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
    expect((await h.fetch('/v1/jobs/job_00000000000000000000000000000000/events')).status).toBe(404);
  });
});

describe('GET /v1/jobs', () => {
  it('lists newest first, with filters and paging', async () => {
    await h.writeInventory('r2', 'h1', [{ name: 'j-list' }]);
    const a = await submit('POST', '/v1/vms/r2/j-list/start');
    await sleep(5);
    const b = await submit('POST', '/v1/vms/r2/j-list/stop', { force: true });
    await sleep(5);
    const c = await submit('POST', '/v1/vms', { vm_name: 'j-list-2', region_name: 'r2', instance_type: 'tiny', image: 'v0.76.0' });
    type Page = { jobs: JobView[]; limit: number; offset: number; next_offset: number | null };
    const get = async (q: string) => {
      const r = await h.fetch(`/v1/jobs${q}`, { token: TOKENS.read });
      expect(r.status, q).toBe(200);
      return (await r.json()) as Page;
    };
    const ids = (p: Page) => p.jobs.map((j) => j.id);
    expect(ids(await get('?region=r2'))).toEqual([c.id, b.id, a.id]);
    expect(ids(await get('?region=r2&kind=stop'))).toEqual([b.id]);
    expect(ids(await get('?region=r2&vm_name=j-list'))).toEqual([b.id, a.id]);
    expect(ids(await get('?region=r2&state=queued'))).toEqual([c.id, b.id, a.id]);
    expect(ids(await get('?region=r2&state=running'))).toEqual([]);
    const p1 = await get('?region=r2&limit=2');
    expect(ids(p1)).toEqual([c.id, b.id]);
    expect(p1.next_offset).toBe(2);
    const p2 = await get('?region=r2&limit=2&offset=2');
    expect(ids(p2)).toEqual([a.id]);
    expect(p2.next_offset).toBeNull();
    expect(ids(await get(''))).toEqual(expect.arrayContaining([a.id, b.id, c.id]));
    for (const q of ['?state=done', '?kind=format', '?limit=0', '?limit=501', '?offset=-3', '?region=nowhere'])
      expect((await h.fetch(`/v1/jobs${q}`)).status, q).toBe(422);
  });
});

describe('job events (SSE) and job states', () => {
  it('streams the snapshot, then each change, and ends after the terminal state', async () => {
    await h.writeInventory('r1', 'h2', [{ name: 'j-sse' }]);
    const job = await submit('POST', '/v1/vms/r1/j-sse/reboot');
    const eventsP = readEvents(job.id);
    await sleep(200);
    const w = fakeWorker(h, 'r1', 'h2', async (j) => {
      const steps: ProgressData['steps'] = [
        { name: 'stop', state: 'running', started_at: new Date().toISOString(), finished_at: null },
        { name: 'start', state: 'pending', started_at: null, finished_at: null },
      ];
      await j.updateProgress({ percent: 10, step: 'stop', steps } satisfies ProgressData);
      await sleep(150);
      await j.updateProgress({ percent: 40, step: 'stop', steps } satisfies ProgressData);
      await sleep(150);
      const done = [
        { ...steps[0], state: 'succeeded', finished_at: new Date().toISOString() },
        { ...steps[1], state: 'running', started_at: new Date().toISOString() },
      ];
      await j.updateProgress({ percent: 60, step: 'start', steps: done } as ProgressData);
      await sleep(150);
      return { state: 'running' };
    });
    try {
      const events = await eventsP;
      expect(events[0]?.event).toBe('snapshot');
      expect(events[0]?.data.state).toBe('queued');
      const last = events.at(-1);
      expect(last?.event).toBe('state');
      expect(last?.data).toMatchObject({ id: job.id, state: 'succeeded', progress: 100, result: { state: 'running' } });
      const kinds = events.map((e) => e.event);
      expect(kinds).toContain('progress');
      expect(kinds).toContain('step');
      const progress = events.map((e) => e.data.progress);
      expect(progress).toEqual([...progress].sort((x, y) => x - y));
      expect(events.map((e) => e.id)).toEqual(events.map((_, i) => String(i)));
      // No two events carry the same view.
      const views = events.map((e) => JSON.stringify(e.data));
      expect(new Set(views).size).toBe(views.length);
      // A finished job's stream is its snapshot, then the end.
      const again = await readEvents(job.id);
      expect(again).toHaveLength(1);
      expect(again[0]).toMatchObject({ event: 'snapshot', data: { state: 'succeeded' } });
      const read = (await (await h.fetch(`/v1/jobs/${job.id}`)).json()) as JobView;
      expect(read).toEqual(last?.data);
    } finally {
      await w.close();
    }
  });

  it('shows a failure with its structured error and no internals', async () => {
    await h.writeInventory('r2', 'h1', [{ name: 'j-fail' }]);
    const w = fakeWorker(h, 'r2', 'h1', async () => {
      throw fail('DOMAIN_NOT_FOUND', "domain 'j-fail' not found");
    });
    try {
      const job = await submit('POST', '/v1/vms/r2/j-fail/start');
      const events = await readEvents(job.id);
      expect(events.at(-1)?.data).toMatchObject({
        state: 'failed',
        error: { code: 'DOMAIN_NOT_FOUND', message: "domain 'j-fail' not found", retryable: false },
        finished_at: expect.any(String),
      });
      const failed = (await (await h.fetch('/v1/jobs?region=r2&state=failed')).json()) as { jobs: JobView[] };
      expect(failed.jobs.map((j) => j.id)).toContain(job.id);
    } finally {
      await w.close();
    }
  });
});

describe('changeKind', () => {
  const base = { state: 'running', attempts: 0, error: null, step: 'a', steps: [], progress: 10 } as unknown as JobView;
  it('names what changed, state first', () => {
    expect(changeKind(base, { ...base, state: 'succeeded' })).toBe('state');
    expect(changeKind(base, { ...base, attempts: 1 })).toBe('state');
    expect(changeKind(base, { ...base, step: 'b', progress: 20 })).toBe('step');
    expect(changeKind(base, { ...base, progress: 20 })).toBe('progress');
  });
});
