/**
 * The typed client against the real service (API and worker processes, Redis, the loopback host), and
 * real HTTP servers in front of it: a proxy that refuses the event stream (the client then polls), and
 * a flaky one answering 503/429 with `Retry-After` (the client waits and retries with the same
 * `Idempotency-Key`, so the API queues one job).
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../../../test/support/host.ts';
import { freePort, type Stack, startStack } from '../../../test/support/stack.ts';
import { ApiError, Client, ConnectionError, isApiError, type JobView, staleVersionOf } from '../src/index.ts';

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
let stack: Stack;
let images: ImageServer;
const image = uniqueName('tiny');
const made: string[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 16 }]));
  stack = await startStack({ host, images: { [image]: { url: images.url('tiny.qcow2') } } });
});

afterAll(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await stack?.stop();
  await images?.close();
  await hv.close();
});

interface Seen {
  method: string;
  path: string;
  key: string | undefined;
  at: number;
}

/**
 * A real HTTP server in front of the API: `decide` may answer a request itself (return true), else it is
 * passed on as is. `onUpstream` sees what the API answered a request passed on (status and body).
 */
async function proxy(
  decide: (req: IncomingMessage, res: ServerResponse, n: number) => boolean | 'swallow',
): Promise<{ url: string; seen: Seen[]; upstream: Array<{ status: number; body: string }> }> {
  const seen: Seen[] = [];
  const upstream: Array<{ status: number; body: string }> = [];
  const target = new URL(stack.url);
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', key: req.headers['idempotency-key'] as string | undefined, at: Date.now() });
    const verdict = decide(req, res, seen.length);
    if (verdict === true) return;
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      if (verdict === 'swallow') {
        // The API did the work, but its answer is lost on the way: the client sees a 503.
        let body = '';
        r.on('data', (d: Buffer) => (body += d));
        r.on('end', () => {
          upstream.push({ status: r.statusCode ?? 0, body });
          res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' }).end('upstream hiccup');
        });
        return;
      }
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
      r.on('end', () => upstream.push({ status: r.statusCode ?? 0, body: '' }));
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, upstream };
}

const writer = (url = stack.url, extra: Partial<ConstructorParameters<typeof Client>[0]> = {}) => new Client({ url, token: stack.tokens.write, ...extra });

describe('the chat bot’s flow: create, wait, list by owner, delete', () => {
  it('creates a VM and waits for it over the event stream, finds it by its owner tag, deletes it', async () => {
    const client = writer();
    const owner = uniqueName('bot-user');
    const name = uniqueName('cl');
    made.push(name);
    const job = await client.createVm({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image, tags: { owner, via: 'chat' } });
    expect(job).toMatchObject({ kind: 'create', state: 'queued', target: { region: 'r1', vm_name: name } });

    const via: Array<'start' | 'sse' | 'poll'> = [];
    const steps = new Set<string>();
    const done = await client.waitForJob(job, {
      onUpdate: (v, how) => {
        via.push(how);
        if (v.step) steps.add(v.step);
      },
    });
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    // The first call reports the job as given; everything after came from the stream.
    expect(via[0]).toBe('start');
    expect(via.slice(1).length).toBeGreaterThan(0);
    expect(via.slice(1).every((h) => h === 'sse')).toBe(true);
    expect(steps.has('define') || steps.has('start') || steps.has('fetch-image')).toBe(true);
    expect(await hv.domainState(name)).toBe('running');

    const mine = await client.listAllVms({ tag: { owner } });
    expect(mine.map((v) => v.vm_name)).toEqual([name]);
    expect(mine[0]).toMatchObject({ region_name: 'r1', state: 'running', tags: { owner, via: 'chat' }, instance_type: 'tiny' });
    expect((await client.listVms({ owner })).vms.map((v) => v.vm_name)).toEqual([name]);
    expect(await client.listAllVms({ tag: { owner: `${owner}-nobody` } })).toEqual([]);

    const gone = await client.waitForJob(await client.deleteVm('r1', name));
    expect(gone.state).toBe('succeeded');
    expect(await hv.domainState(name).catch((e: Error) => e.name)).toBe('DomainNotFoundError');
    const missing = await client.getVm('r1', name).catch((e: unknown) => e);
    expect(isApiError(missing, 'NOT_FOUND')).toBe(true);
  });
});

describe('waiting without the event stream', () => {
  it('polls the job when a proxy refuses its event stream (trying it only once), and opens a new stream when one is cut short', async () => {
    const p = await proxy((req, res) => {
      if (!req.url?.endsWith('/events')) return false;
      res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>502 Bad Gateway</h1>');
      return true;
    });
    const client = writer(p.url);
    const name = uniqueName('cl');
    made.push(name);
    const via: Array<'start' | 'sse' | 'poll'> = [];
    const done = await client.waitForJob(await client.createVm({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image }), {
      pollIntervalMs: 200,
      onUpdate: (_v, how) => via.push(how),
    });
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect(via[0]).toBe('start');
    expect(via.slice(1).length).toBeGreaterThan(0);
    expect(via.slice(1).every((h) => h === 'poll')).toBe(true);
    const events = p.seen.filter((s) => s.path.endsWith('/events'));
    expect(events).toHaveLength(1);
    expect(p.seen.filter((s) => s.method === 'GET' && s.path === `/v1/jobs/${done.id}`).length).toBeGreaterThanOrEqual(1);

    // A stream cut short after its first event (an idle timeout in a proxy) is followed by a read and a new stream.
    const cut = await proxy((req, res) => {
      if (!req.url?.endsWith('/events')) return false;
      const target = new URL(stack.url);
      const up = request({ host: target.hostname, port: target.port, method: 'GET', path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.once('data', (d: Buffer) => {
          res.end(d);
          up.destroy();
        });
      });
      up.end();
      return true;
    });
    const viaCut: Array<'start' | 'sse' | 'poll'> = [];
    // A reboot waits out the guest's shutdown timeout (this image has no guest to answer): several streams.
    const rebooted = await writer(cut.url).waitForJob(await writer(cut.url).rebootVm('r1', name), { onUpdate: (_v, how) => viaCut.push(how) });
    expect(rebooted.state, JSON.stringify(rebooted.error)).toBe('succeeded');
    expect(viaCut).toContain('sse');
    expect(viaCut).toContain('poll');
    expect(cut.seen.filter((s) => s.path.endsWith('/events')).length).toBeGreaterThanOrEqual(2);

    // And a stream that is not one (a proxy answering 200 with a page) is refused the same way.
    const q = await proxy((req, res) => {
      if (!req.url?.endsWith('/events')) return false;
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p>portal login</p>');
      return true;
    });
    const viaQ: Array<'start' | 'sse' | 'poll'> = [];
    const deleted = await writer(q.url).waitForJob(await writer(q.url).deleteVm('r1', name), { pollIntervalMs: 200, onUpdate: (_v, how) => viaQ.push(how) });
    expect(deleted.state).toBe('succeeded');
    expect(viaQ.slice(1).every((h) => h === 'poll')).toBe(true);
    expect(q.seen.filter((s) => s.path.endsWith('/events'))).toHaveLength(1);
  });
});

describe('retries on 503 and 429', () => {
  it('waits the Retry-After, retries with the same Idempotency-Key, and the API queues one job', async () => {
    // Attempt 1 reaches the API (which queues the create) but its answer is lost: 503. Attempt 2 is
    // refused by the proxy with 429. Attempt 3 reaches the API, which answers it as it did attempt 1.
    const p = await proxy((req, res, n) => {
      if (req.method !== 'POST') return false;
      if (n === 1) return 'swallow';
      if (n === 2) {
        res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'slow down', request_id: 'req_proxy' }, detail: 'slow down' }));
        return true;
      }
      return false;
    });
    const client = writer(p.url);
    const name = uniqueName('cl');
    made.push(name);
    const job = await client.createVm({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image });

    expect(p.seen.map((s) => s.method)).toEqual(['POST', 'POST', 'POST']);
    const keys = new Set(p.seen.map((s) => s.key));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^[\x21-\x7e]{1,255}$/);
    // Each retry came after the second the answer asked for.
    const [a, b, c] = p.seen.map((s) => s.at) as [number, number, number];
    expect(b - a).toBeGreaterThanOrEqual(950);
    expect(c - b).toBeGreaterThanOrEqual(950);
    // The lost answer was the same job: one create was queued, not two.
    expect(p.upstream[0]?.status).toBe(202);
    expect((JSON.parse(p.upstream[0]?.body ?? '{}') as JobView).id).toBe(job.id);
    const creates = (await writer().listJobs({ vm_name: name, kind: 'create' })).jobs;
    expect(creates.map((j) => j.id)).toEqual([job.id]);

    // Another call is another key: a second create of the name is refused by the API, not replayed.
    const again = await client.createVm({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ApiError);
    expect(again).toMatchObject({ status: 409, code: 'CONFLICT' });
    expect(p.seen.at(-1)?.key).not.toBe([...keys][0]);

    expect((await writer().waitForJob(job)).state).toBe('succeeded');
    expect((await writer().waitForJob(await writer().deleteVm('r1', name))).state).toBe('succeeded');
  });

  it('gives up after its retries, and does not wait longer than it may', async () => {
    const always = await proxy((_req, res) => {
      res.writeHead(503, { 'retry-after': '1', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'redis is down', request_id: 'req_1' }, detail: 'redis is down' }));
      return true;
    });
    const e = await writer(always.url, { retries: 2 })
      .listVms()
      .catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: 'api', status: 503, code: 'UNAVAILABLE', message: 'redis is down', requestId: 'req_1', retryAfterS: 1 });
    expect(always.seen).toHaveLength(3);

    const long = await proxy((_req, res) => {
      res.writeHead(429, { 'retry-after': '120' }).end();
      return true;
    });
    const e2 = await writer(long.url, { maxRetryDelayMs: 5000 })
      .getJob('job_x')
      .catch((x: unknown) => x);
    expect(e2).toMatchObject({ status: 429, code: 'HTTP_429', retryAfterS: 120 });
    expect(long.seen).toHaveLength(1);

    // Other errors are not retried.
    const once = await proxy((_req, res) => {
      res.writeHead(500, { 'retry-after': '1' }).end();
      return true;
    });
    await expect(writer(once.url).health()).rejects.toMatchObject({ status: 500 });
    expect(once.seen).toHaveLength(1);
  });
});

describe('tags: a write carries the ETag it was built from', () => {
  it('setTags sends If-Match: a stale ETag is PRECONDITION_FAILED with the current tags, never an overwrite; editTags merges with a write that came first', async () => {
    const name = uniqueName('cltag');
    made.push(name);
    const client = writer();
    const created = await client.waitForJob(
      await client.createVm({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image, tags: { owner: 'ux', project: 'demo' } }),
    );
    expect(created.state, JSON.stringify(created.error)).toBe('succeeded');
    const { vm, etag } = await client.getVmWithEtag('r1', name);
    expect(vm.tags).toEqual({ owner: 'ux', project: 'demo' });
    expect(etag).toMatch(/^"\d+\./);
    expect((await client.setTags('r1', name, { ...vm.tags, stage: 'a' }, etag)).kind).toBe('edit-tags');

    // The same read again is stale now: refused with what the tags are (the queued edit's), nothing queued.
    const jobs = (await client.listJobs({ vm_name: name })).jobs.length;
    const stale = await client.setTags('r1', name, {}, etag).catch((e: unknown) => e);
    expect(isApiError(stale, 'PRECONDITION_FAILED')).toBe(true);
    expect((stale as ApiError).status).toBe(412);
    expect(staleVersionOf(stale)?.tags).toEqual({ owner: 'ux', project: 'demo', stage: 'a' });
    expect((await client.listJobs({ vm_name: name })).jobs.length).toBe(jobs);

    // editTags: another writer's edit lands between its read and its write (a real request, made just
    // before its PUT goes out); the 412 hands it that writer's tags and it applies its change to them.
    let other = false;
    const racing = writer(stack.url, {
      fetch: async (input, init) => {
        if (init?.method === 'PUT' && !other) {
          other = true;
          await writer().setTags('r1', name, { owner: 'ux', project: 'demo', stage: 'a', other: 'yes' }, '*');
        }
        return fetch(input, init);
      },
    });
    const seen: Array<Record<string, string>> = [];
    const job = await racing.editTags('r1', name, (t) => {
      seen.push(t);
      return { ...t, mine: 'yes' };
    });
    expect(seen).toEqual([
      { owner: 'ux', project: 'demo', stage: 'a' },
      { owner: 'ux', project: 'demo', stage: 'a', other: 'yes' },
    ]);
    expect((await client.waitForJob(job)).state).toBe('succeeded');
    expect((await client.getVm('r1', name)).tags).toEqual({ owner: 'ux', project: 'demo', stage: 'a', other: 'yes', mine: 'yes' });
  });
});

describe('errors as typed values', () => {
  it('404 and 422 carry the API’s code, message, fields and request id; an unreachable API is a ConnectionError', async () => {
    const client = writer();
    const missing = await client.getVm('r1', uniqueName('none')).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ApiError);
    const m = missing as ApiError;
    expect(m).toMatchObject({ kind: 'api', status: 404, code: 'NOT_FOUND' });
    expect(m.requestId).toMatch(/^req_[a-f0-9]{32}$/);
    expect(m.message).toContain('not found');

    const bad = await client.createVm({ vm_name: 'Not_A_Label', region_name: 'r1', instance_type: 'tiny', image }).catch((e: unknown) => e);
    expect(isApiError(bad, 'VALIDATION')).toBe(true);
    const b = bad as ApiError;
    expect(b.status).toBe(422);
    expect(b.fields.map((f) => f.path)).toContain('vm_name');
    expect(b.fields.find((f) => f.path === 'vm_name')?.message).toMatch(/lowercase DNS label/);
    // Nothing was queued for it.
    expect((await client.listJobs({ vm_name: 'Not_A_Label' })).jobs).toEqual([]);

    const noJob = await client.waitForJob('job_00000000000000000000000000000000').catch((e: unknown) => e);
    expect(noJob).toMatchObject({ status: 404, code: 'NOT_FOUND' });

    const denied = await new Client({ url: stack.url, token: 'not-a-token-of-this-api' }).listVms().catch((e: unknown) => e);
    expect(denied).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });

    const closed = await new Client({ url: `http://127.0.0.1:${await freePort()}`, token: 'x' }).health().catch((e: unknown) => e);
    expect(closed).toBeInstanceOf(ConnectionError);
    expect(closed).toMatchObject({ kind: 'connection', code: 'ECONNREFUSED' });
  });
});
