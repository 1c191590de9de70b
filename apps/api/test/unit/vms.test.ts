import { hostQueueName } from '@provisioner/contracts';
import { keys } from '@provisioner/store/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import type { VmItem } from '../../src/inventory.ts';
import { pageJson } from '../../src/routes/vms/list.ts';
import { b64, deletePrefix, fakeWorker, TOKENS, useHarness } from './harness.ts';

const h = useHarness();
beforeEach(async () => {
  await deletePrefix(h.redis, h.prefix);
});

interface JobBody {
  id: string;
  kind: string;
  target: { region: string; vm_name: string | null; host: string };
  state: string;
  progress: number;
  step: string | null;
  steps: Array<{ name: string; state: string; started_at: string | null; finished_at: string | null }>;
  attempts: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: unknown;
  result: unknown;
  links: { self: string; events: string; cancel: string };
}

const createBody = (name: string, extra: Record<string, unknown> = {}) => ({
  vm_name: name,
  region_name: 'r1',
  instance_type: 'tiny',
  image: 'v0.76.0',
  ...extra,
});

async function create(name: string, extra: Record<string, unknown> = {}) {
  const r = await h.fetch('/v1/vms', { method: 'POST', json: createBody(name, extra) });
  return { r, body: (await r.json()) as JobBody };
}

describe('POST /v1/vms', () => {
  it('answers 202 with the job, Location and Retry-After, and queues one create on the chosen host', async () => {
    const userData = b64('#cloud-config\npassword: hunter2-secret\n');
    const { r, body } = await create('web-1', { tags: { owner: 'alice' }, user_data: userData });
    expect(r.status).toBe(202);
    expect(r.headers.get('location')).toBe(`/v1/jobs/${body.id}`);
    expect(r.headers.get('retry-after')).toBe('1');
    expect(body).toEqual({
      id: expect.stringMatching(/^job_[a-f0-9]{32}$/),
      kind: 'create',
      target: { region: 'r1', vm_name: 'web-1', host: 'h1' },
      state: 'queued',
      progress: 0,
      step: null,
      steps: ['fetch-image', 'create-disk', 'create-seed', 'define', 'start'].map((name) => ({ name, state: 'pending', started_at: null, finished_at: null })),
      attempts: 0,
      created_at: expect.any(String),
      started_at: null,
      finished_at: null,
      error: null,
      result: null,
      request_id: r.headers.get('x-request-id'),
      links: { self: `/v1/jobs/${body.id}`, events: `/v1/jobs/${body.id}/events`, cancel: `/v1/jobs/${body.id}/cancel` },
    });
    expect(JSON.stringify(body)).not.toContain('hunter2');

    // The payload as the worker will read it: sizes from the instance type, user-data encrypted.
    const job = await h.queues.get(hostQueueName('r1', 'h1')).getJob(body.id);
    expect(job?.data).toMatchObject({
      kind: 'create',
      region: 'r1',
      host: 'h1',
      vm_name: 'web-1',
      seq: 1,
      instance_type: 'tiny',
      vcpus: 1,
      memory_mb: 512,
      storage_mb: 4096,
      image: { name: 'v0.76.0', url: 'https://images.example.org/v0.76.0.qcow2', sha256: 'a'.repeat(64) },
      tags: { owner: 'alice' },
      submitted_by: 'admin',
      request_id: r.headers.get('x-request-id'),
      user_data_enc: expect.stringMatching(/^v1\./),
    });
    expect(job?.data).not.toHaveProperty('user_data');
    expect(await h.redis.get(keys.vmHost(h.prefix, 'r1', 'web-1'))).toBe('h1');
    expect(await h.jobCount()).toBe(1);
  });

  it('answers 409 to a second create of the same name, and queues nothing more', async () => {
    expect((await create('dup')).r.status).toBe(202);
    const again = await create('dup', { instance_type: 'large' });
    expect(again.r.status).toBe(409);
    expect((again.body as unknown as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/^VM r\d\/[a-z0-9-]+ already exists$/),
    });
    expect((await h.fetch('/v1/create', { method: 'POST', json: createBody('dup') })).status).toBe(409);
    expect(await h.jobCount()).toBe(1);
  });

  it('answers 409 when the inventory already shows a domain of that name in the region', async () => {
    await h.writeInventory('r1', 'h2', [{ name: 'legacy-vm', managed: false }]);
    expect((await create('legacy-vm')).r.status).toBe(409);
    expect(await h.redis.get(keys.vmHost(h.prefix, 'r1', 'legacy-vm'))).toBeNull();
    // Another region is another namespace.
    expect((await h.fetch('/v1/vms', { method: 'POST', json: { ...createBody('legacy-vm'), region_name: 'r2' } })).status).toBe(202);
  });

  it('puts a new VM on the host with the fewest VMs (ties: the first), avoiding hosts that cannot be listed', async () => {
    expect((await create('a1')).body.target.host).toBe('h1');
    await h.writeInventory('r1', 'h1', [{ name: 'x1' }, { name: 'x2' }]);
    await h.writeInventory('r1', 'h2', [{ name: 'y1' }]);
    expect((await create('a2')).body.target.host).toBe('h2');
    await h.writeInventory('r1', 'h2', [{ name: 'y1' }, { name: 'y2' }]);
    expect((await create('a3')).body.target.host).toBe('h1');
    await h.writeInventory('r1', 'h1', [], { error: 'connect ECONNREFUSED' });
    expect((await create('a4')).body.target.host).toBe('h2');
  });
});

describe('operations on a VM', () => {
  it('queue on the host recorded at create, in order, with the defaults filled in', async () => {
    await h.writeInventory('r1', 'h1', [{ name: 'other' }]);
    const c = await create('ops-vm');
    expect(c.body.target.host).toBe('h2');
    const submit = async (method: string, path: string, json?: unknown) => {
      const r = await h.fetch(path, { method, json });
      expect(r.status, `${method} ${path}`).toBe(202);
      expect(r.headers.get('location')).toMatch(/^\/v1\/jobs\/job_/);
      return (await r.json()) as JobBody;
    };
    const stop = await submit('POST', '/v1/vms/r1/ops-vm/stop');
    const force = await submit('POST', '/v1/vms/r1/ops-vm/stop', { force: true, timeout_ms: 5000 });
    const reboot = await submit('POST', '/v1/vms/r1/ops-vm/reboot');
    const tags = await submit('PUT', '/v1/vms/r1/ops-vm/tags', { tags: { owner: 'bob' } });
    const start = await submit('POST', '/v1/vms/r1/ops-vm/start', {});
    const del = await submit('DELETE', '/v1/vms/r1/ops-vm');
    const q = h.queues.get(hostQueueName('r1', 'h2'));
    const data = async (id: string) => (await q.getJob(id))?.data as Record<string, unknown>;
    expect(await data(stop.id)).toMatchObject({ kind: 'stop', force: false, timeout_ms: h.config.worker.stop_timeout_ms, seq: 2, host: 'h2' });
    expect(await data(force.id)).toMatchObject({ kind: 'stop', force: true, timeout_ms: 5000, seq: 3 });
    expect(await data(reboot.id)).toMatchObject({ kind: 'reboot', timeout_ms: h.config.worker.stop_timeout_ms, seq: 4 });
    expect(await data(tags.id)).toMatchObject({ kind: 'edit-tags', tags: { owner: 'bob' }, seq: 5 });
    expect(await data(start.id)).toMatchObject({ kind: 'start', seq: 6 });
    expect(await data(del.id)).toMatchObject({ kind: 'delete', seq: 7 });
    expect(reboot.steps.map((s) => s.name)).toEqual(['stop', 'start']);
    expect(await h.redis.zrange(keys.vmOps(h.prefix, 'r1', 'ops-vm'), 0, -1)).toEqual([c.body.id, stop.id, force.id, reboot.id, tags.id, start.id, del.id]);
  });

  it('find a VM the service did not create through the inventory', async () => {
    await h.writeInventory('r1', 'h2', [{ name: 'found-vm', managed: false }]);
    const r = await h.fetch('/v1/vms/r1/found-vm/start', { method: 'POST' });
    expect(r.status).toBe(202);
    expect(((await r.json()) as JobBody).target.host).toBe('h2');
  });
});

describe('GET /v1/vms', () => {
  beforeEach(async () => {
    await h.writeInventory('r1', 'h1', [
      { name: 'alpha', state: 'running', dom_id: 3, tags: { owner: 'alice', env: 'prod' }, ip: '10.0.0.3' },
      { name: 'bravo', state: 'shut off', tags: { owner: 'bob', env: 'dev' } },
      { name: 'unmanaged-1', state: 'running', dom_id: 1, managed: false, tags: {}, image: null, instance_type: null },
    ]);
    await h.writeInventory('r1', 'h2', [{ name: 'charlie', state: 'running', dom_id: 7, tags: { owner: 'alice', 'team:core': 'a:b' } }], {
      error: 'connect ECONNREFUSED',
      observed_at: '2026-01-01T00:00:00.000Z',
    });
    await h.writeInventory('r2', 'h1', [{ name: 'delta', state: 'paused', tags: { owner: 'carol' } }]);
  });

  type List = { vms: Array<Record<string, unknown>>; total: number; limit: number; next_cursor: string | null; hosts: Array<Record<string, unknown>> };
  const list = async (query = '') => {
    const r = await h.fetch(`/v1/vms${query}`, { token: TOKENS.read });
    expect(r.status).toBe(200);
    return (await r.json()) as List;
  };
  const names = (l: List) => l.vms.map((v) => v.vm_name);

  it('lists every VM of every enabled region, sorted, with each host’s status', async () => {
    const l = await list();
    expect(names(l)).toEqual(['alpha', 'bravo', 'charlie', 'unmanaged-1', 'delta']);
    expect(l.total).toBe(5);
    expect(l.next_cursor).toBeNull();
    expect(l.vms[0]).toEqual({
      vm_name: 'alpha',
      region_name: 'r1',
      host: 'h1',
      dom_id: 3,
      state: 'running',
      managed: true,
      tags: { owner: 'alice', env: 'prod' },
      ip: '10.0.0.3',
      addresses: [],
      guest: { agent: 'unknown', cloud_init: 'unknown', ready: false, ready_at: null },
      vcpus: 1,
      memory_mb: 512,
      image: 'v0.76.0',
      instance_type: 'tiny',
      snapshots: [],
      observed_at: expect.any(String),
      transition: null,
    });
    expect(l.hosts).toEqual([
      { region: 'r1', host: 'h1', observed_at: expect.any(String), error: null },
      { region: 'r1', host: 'h2', observed_at: '2026-01-01T00:00:00.000Z', error: 'connect ECONNREFUSED' },
      { region: 'r2', host: 'h1', observed_at: expect.any(String), error: null },
    ]);
  });

  it('filters by region, state, owner, tags and managed', async () => {
    expect(names(await list('?region=r2'))).toEqual(['delta']);
    expect(names(await list('?state=running'))).toEqual(['alpha', 'charlie', 'unmanaged-1']);
    expect(names(await list('?state=shut%20off'))).toEqual(['bravo']);
    expect(names(await list('?owner=alice'))).toEqual(['alpha', 'charlie']);
    expect(names(await list('?owner=alice&state=running&region=r1'))).toEqual(['alpha', 'charlie']);
    expect(names(await list('?tag=env=prod'))).toEqual(['alpha']);
    expect(names(await list('?tag=env'))).toEqual(['alpha', 'bravo']);
    expect(names(await list('?tag=env=dev&tag=owner=bob'))).toEqual(['bravo']);
    expect(names(await list('?tag=env=dev&tag=owner=alice'))).toEqual([]);
    // Keys may hold colons and values anything: split at the first `=`, which no key has (the CLI's --tag k=v).
    expect(names(await list('?tag=team:core=a:b'))).toEqual(['charlie']);
    expect(names(await list('?tag=team:core'))).toEqual(['charlie']);
    expect(names(await list('?tag=team:core=a=b'))).toEqual([]);
    // The form the API took first (key:value, split at the first colon) keeps working for its clients.
    expect(names(await list('?tag=env:prod'))).toEqual(['alpha']);
    expect(names(await list('?tag=owner:bob'))).toEqual(['bravo']);
    expect(names(await list('?managed=false'))).toEqual(['unmanaged-1']);
    expect((await list('?region=r2')).hosts).toEqual([{ region: 'r2', host: 'h1', observed_at: expect.any(String), error: null }]);
  });

  it('pages with limit and cursor, or limit and offset', async () => {
    const p1 = await list('?limit=2');
    expect(names(p1)).toEqual(['alpha', 'bravo']);
    expect(p1.total).toBe(5);
    const p2 = await list(`?limit=2&cursor=${p1.next_cursor}`);
    expect(names(p2)).toEqual(['charlie', 'unmanaged-1']);
    const p3 = await list(`?limit=2&cursor=${p2.next_cursor}`);
    expect(names(p3)).toEqual(['delta']);
    expect(p3.next_cursor).toBeNull();
    expect(names(await list('?limit=2&offset=3'))).toEqual(['unmanaged-1', 'delta']);
    expect(names(await list('?offset=10'))).toEqual([]);
  });

  it('walks hundreds of VMs by cursor in pages, and a new listing is seen at once', async () => {
    const many = Array.from({ length: 250 }, (_, i) => ({ name: `m-${String(i).padStart(3, '0')}`, state: 'shut off', tags: { owner: 'walker' } }));
    await h.writeInventory('r2', 'h1', [{ name: 'delta', state: 'paused', tags: { owner: 'carol' } }, ...many]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const p: List = await list(`?region=r2&limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...p.vms.map((v) => String(v.vm_name)));
      cursor = p.next_cursor;
    } while (cursor);
    expect(seen).toEqual(['delta', ...many.map((m) => m.name)].sort());
    // A cursor naming a VM that is gone continues after where it would be.
    const gone = Buffer.from(JSON.stringify(['r2', 'm-1005', 'h1'])).toString('base64url');
    expect(names(await list(`?region=r2&limit=3&cursor=${gone}`))).toEqual(['m-101', 'm-102', 'm-103']);
    // The inventory written again: the next page reads it (no stale sorted copy).
    await h.writeInventory('r2', 'h1', [{ name: 'delta', state: 'paused', tags: { owner: 'carol' } }]);
    expect(names(await list('?region=r2'))).toEqual(['delta']);
  });

  it.each([
    ['?limit=0', 422],
    ['?limit=501', 422],
    ['?limit=abc', 422],
    ['?offset=-1', 422],
    ['?region=nowhere', 422],
    ['?region=off', 422],
    ['?refresh=maybe', 422],
    ['?managed=yes', 422],
    ['?cursor=not-a-cursor', 400],
    ['?cursor=WyJhIl0&offset=1', 400],
  ])('refuses %s with %i', async (query, status) => {
    const r = await h.fetch(`/v1/vms${query}`);
    expect(r.status).toBe(status);
    expect(((await r.json()) as { detail: string }).detail).toBeTruthy();
  });

  it('with ?refresh=true lists each host again through a refresh job, bounded by refresh_wait_ms', async () => {
    const w = fakeWorker(h, 'r2', 'h1', async (job) => {
      expect(job.data).toMatchObject({ kind: 'refresh', region: 'r2', host: 'h1', submitted_by: 'reader' });
      await h.writeInventory('r2', 'h1', [{ name: 'echo', state: 'running', dom_id: 9 }]);
      return { vms: 1 };
    });
    try {
      const t0 = Date.now();
      const l = await list('?region=r2&refresh=true');
      expect(names(l)).toEqual(['echo']);
      expect(Date.now() - t0).toBeLessThan(h.config.refresh_wait_ms + 300);
      // No worker for r1's hosts: the wait is bounded and the last entries are shown.
      const t1 = Date.now();
      const all = await list('?refresh=true');
      expect(Date.now() - t1).toBeLessThan(h.config.refresh_wait_ms + 500);
      expect(names(all)).toContain('alpha');
    } finally {
      await w.close();
    }
  });
});

describe('GET /v1/vms/{region}/{name}', () => {
  it('answers the inventory’s record, a pending VM whose create has not run, and 404 for unknown VMs and regions', async () => {
    await h.writeInventory('r1', 'h1', [{ name: 'known', state: 'running', dom_id: 4, tags: { owner: 'alice' } }]);
    const known = await h.fetch('/v1/vms/r1/known', { token: TOKENS.read });
    expect(known.status).toBe(200);
    expect(await known.json()).toMatchObject({ vm_name: 'known', region_name: 'r1', host: 'h1', state: 'running', dom_id: 4, tags: { owner: 'alice' } });

    const c = await create('fresh');
    const pending = await h.fetch('/v1/vms/r1/fresh');
    expect(pending.status).toBe(200);
    expect(await pending.json()).toMatchObject({ vm_name: 'fresh', host: c.body.target.host, state: 'pending', dom_id: null, observed_at: null });

    for (const path of ['/v1/vms/r1/unknown', '/v1/vms/r2/known', '/v1/vms/nowhere/known', '/v1/vms/off/known']) {
      const r = await h.fetch(path);
      expect(r.status, path).toBe(404);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
    expect((await h.fetch('/v1/vms/r1/NOT_A_NAME')).status).toBe(422);
  });
});

describe('transition: the job working on a VM', () => {
  it('shows while a stop runs (kind, job, the step’s detail), keeps libvirt’s state, is null after; the legacy list is unchanged', async () => {
    await h.writeInventory('r1', 'h1', [
      { name: 'moving', state: 'running', dom_id: 9 },
      { name: 'still', state: 'running', dom_id: 10 },
    ]);
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const w = fakeWorker(h, 'r1', 'h1', async (job) => {
      if (job.data.kind !== 'stop') return {};
      const started_at = new Date().toISOString();
      await job.updateProgress({
        percent: 0,
        step: 'stop',
        steps: [{ name: 'stop', state: 'running', started_at, finished_at: null, detail: 'graceful shutdown; forcing in 47 s' }],
      });
      await released;
      return {};
    });
    const listed = async () =>
      ((await (await h.fetch('/v1/vms')).json()) as { vms: Array<{ vm_name: string; transition: unknown }> }).vms.map((v) => [v.vm_name, v.transition]);
    try {
      // A listing before: the next ones read the lines of the page it gives beside the inventory (Inventory.page).
      expect(await listed()).toEqual([
        ['moving', null],
        ['still', null],
      ]);
      const r = await h.fetch('/v1/vms/r1/moving/stop', { method: 'POST', json: { timeout_ms: 60_000 } });
      expect(r.status).toBe(202);
      const job = (await r.json()) as JobBody;
      const read = async () => (await (await h.fetch('/v1/vms/r1/moving')).json()) as { state: string; transition: unknown };
      const deadline = Date.now() + 5000;
      let vm = await read();
      while (vm.transition === null && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 50));
        vm = await read();
      }
      const transition = { kind: 'stop', job_id: job.id, detail: 'graceful shutdown; forcing in 47 s' };
      expect(vm).toMatchObject({ state: 'running', transition });
      for (let i = 0; i < 2; i++) {
        expect(await listed()).toEqual([
          ['moving', transition],
          ['still', null],
        ]);
      }
      const legacy = (await (await h.fetch('/v1/list')).json()) as Array<Record<string, unknown>>;
      expect(legacy.map((v) => Object.keys(v).sort())).toEqual([
        ['dom_id', 'name', 'region_name', 'state', 'tags'],
        ['dom_id', 'name', 'region_name', 'state', 'tags'],
      ]);

      release();
      const end = Date.now() + 5000;
      while ((await read()).transition !== null && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
      expect(await read()).toMatchObject({ state: 'running', transition: null });
      expect(await listed()).toEqual([
        ['moving', null],
        ['still', null],
      ]);
    } finally {
      release();
      await w.close();
    }
  });
});

describe('pageJson', () => {
  it('sends what JSON.stringify would, byte for byte, whether a VM’s bytes are new or kept from an earlier page', () => {
    const vm = (name: string, tags: Record<string, string>) =>
      ({ region_name: 'r1', vm_name: name, host: 'h1', state: 'running', tags, transition: null }) as unknown as VmItem;
    const vms = [vm('a', { note: 'ü "quoted" </script>' }), vm('b', {})];
    const rest = { total: 2, limit: 100, next_cursor: null, hosts: [{ region: 'r1', host: 'h1', observed_at: null, error: 'x\ny' }] };
    const want = JSON.stringify({ vms, ...rest });
    expect(Buffer.from(pageJson(vms, rest)).toString()).toBe(want);
    expect(Buffer.from(pageJson(vms, rest)).toString()).toBe(want);
    expect(Buffer.from(pageJson([], rest)).toString()).toBe(JSON.stringify({ vms: [], ...rest }));
  });
});
