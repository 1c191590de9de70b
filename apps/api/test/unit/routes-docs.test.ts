/**
 * The routes are their own documentation (src/route.ts, src/routes/index.ts):
 * - `/openapi.json` keeps every path, method, parameter, status code and schema property of the
 *   document saved before routes became objects (test/fixtures/openapi-before.json); only text,
 *   examples and additions may differ;
 * - every route of the registry, all of them, is called, and its real answer validated against the
 *   schema the document gives for the status it answered (error answers included);
 * - an invalid body is a 422 in the error envelope on every route that takes a body, with or without
 *   a Content-Type header, and nothing is queued.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/routes/index.ts';
import { fakeWorker, TOKENS, useHarness } from './harness.ts';

const h = useHarness();

type Json = Record<string, unknown>;
type Doc = { paths: Record<string, Record<string, Json>>; components: { schemas: Record<string, Json> } };

const BEFORE = JSON.parse(readFileSync(new URL('../fixtures/openapi-before.json', import.meta.url), 'utf8')) as Doc;

async function currentDoc(): Promise<Doc> {
  const r = await fetch(`${h.url}/openapi.json`);
  expect(r.status).toBe(200);
  return (await r.json()) as Doc;
}

// ---- (1) nothing of the public API disappears ----

/** The schema's property paths and enum values (text, examples and `$ref`'d schemas aside: components are walked on their own). */
function schemaFacts(s: unknown, at: string, out: Set<string>): void {
  if (!s || typeof s !== 'object') return;
  const o = s as Json;
  if (typeof o.$ref === 'string') {
    out.add(`${at} -> ${o.$ref}`);
    return;
  }
  if (typeof o.type === 'string') out.add(`${at} type=${o.type}`);
  if (Array.isArray(o.enum)) for (const v of o.enum) out.add(`${at} enum=${JSON.stringify(v)}`);
  if (Array.isArray(o.required)) for (const k of o.required) out.add(`${at} required=${String(k)}`);
  if (o.properties && typeof o.properties === 'object') for (const [k, v] of Object.entries(o.properties)) schemaFacts(v, `${at}.${k}`, out.add(`${at}.${k}`));
  if (o.items) schemaFacts(o.items, `${at}[]`, out);
  if (o.additionalProperties && typeof o.additionalProperties === 'object') schemaFacts(o.additionalProperties, `${at}{}`, out);
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const) if (Array.isArray(o[k])) for (const x of o[k] as unknown[]) schemaFacts(x, at, out);
}

/** Everything a client can rely on in a document, one line each. */
function apiFacts(d: Doc): Set<string> {
  const out = new Set<string>();
  for (const [path, ops] of Object.entries(d.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const at = `${method.toUpperCase()} ${path}`;
      out.add(at);
      for (const p of (op.parameters ?? []) as Json[]) {
        out.add(`${at} param ${String(p.in)}:${String(p.name)}${p.required ? ' required' : ''}`);
        schemaFacts(p.schema, `${at} param ${String(p.name)}`, out);
      }
      const body = op.requestBody as { required?: boolean; content?: Record<string, { schema: unknown }> } | undefined;
      if (body) out.add(`${at} body${body.required ? ' required' : ''}`);
      for (const [type, c] of Object.entries(body?.content ?? {})) schemaFacts(c.schema, `${at} body ${type}`, out.add(`${at} body ${type}`));
      for (const [status, r] of Object.entries((op.responses ?? {}) as Record<string, Json>)) {
        out.add(`${at} ${status}`);
        for (const name of Object.keys((r.headers ?? {}) as Json)) out.add(`${at} ${status} header ${name}`);
        for (const [type, c] of Object.entries((r.content ?? {}) as Record<string, { schema: unknown }>))
          schemaFacts(c.schema, `${at} ${status} ${type}`, out.add(`${at} ${status} ${type}`));
      }
      if (Array.isArray(op.security)) out.add(`${at} security=${JSON.stringify(op.security)}`);
    }
  }
  for (const [name, s] of Object.entries(d.components.schemas)) schemaFacts(s, `#${name}`, out.add(`#${name}`));
  return out;
}

/**
 * What the document stopped saying on purpose: `POST /v1/create` validates the replaced service's
 * lenient body (unknown fields stripped), which has no `webhook_url` or `host` and was never strict; the
 * old document showed the new create's body there, fields the route never read.
 */
const DROPPED_ON_PURPOSE = new Set([
  'POST /v1/create body application/json.webhook_url',
  'POST /v1/create body application/json.webhook_url type=string',
  'POST /v1/create body application/json.host',
  'POST /v1/create body application/json.host type=string',
]);

function removed(before: Doc, after: Doc): string[] {
  const now = apiFacts(after);
  return [...apiFacts(before)].filter((f) => !now.has(f) && !DROPPED_ON_PURPOSE.has(f));
}

describe('/openapi.json compared with the document of before', () => {
  it('keeps every path, method, parameter, status code and schema property', async () => {
    expect(removed(BEFORE, await currentDoc())).toEqual([]);
  });

  it('would notice a renamed property, a dropped status, parameter or enum value', async () => {
    const d = await currentDoc();
    const mutate = (f: (x: Doc) => void): Doc => {
      const copy = structuredClone(d);
      f(copy);
      return copy;
    };
    const job = (x: Doc) => x.components.schemas.JobView as { properties: Record<string, unknown> };
    expect(
      removed(
        BEFORE,
        mutate((x) => {
          const p = job(x).properties;
          p.vm = p.target;
          delete p.target;
        }),
      ),
    ).toContain('#JobView.target');
    expect(
      removed(
        BEFORE,
        mutate((x) => delete ((x.paths['/v1/vms']?.post?.responses ?? {}) as Json)['409']),
      ),
    ).toContain('POST /v1/vms 409');
    expect(
      removed(
        BEFORE,
        mutate((x) => ((x.paths['/v1/jobs']?.get as Json).parameters = [])),
      ),
    ).toContain('GET /v1/jobs param query:state');
    expect(
      removed(
        BEFORE,
        mutate((x) => {
          const state = job(x).properties.state as { enum: string[] };
          state.enum = state.enum.filter((s) => s !== 'canceled');
        }),
      ),
    ).toContain('#JobView.state enum="canceled"');
  });

  it('is the one the app serves, and lists the registry exactly', async () => {
    const d = await currentDoc();
    const documented = Object.entries(d.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort());
  });
});

// ---- (2) every route's real answer matches its documented schema ----

interface Call {
  path: string;
  token?: string | null;
  json?: unknown;
  headers?: Record<string, string>;
  /** The status expected (so a broken call cannot pass as an error that happens to be documented). */
  status: number;
}

describe('every route answers what its document says', () => {
  let ajv: Ajv2020;
  let doc: Doc;
  const ids: Record<string, string> = {};
  let worker: Worker | undefined;

  afterAll(async () => {
    await worker?.close();
  });

  beforeAll(async () => {
    // Region r2's host has a worker that finishes every job at once (the legacy routes' 200); r1 has none.
    worker = fakeWorker(h, 'r2', 'h1');
    await h.writeInventory('r2', 'h1', [{ name: 'lg-start' }, { name: 'lg-stop' }, { name: 'lg-tags' }, { name: 'lg-delete' }]);
    doc = await currentDoc();
    ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ ...doc, $id: 'openapi' });
    const snapshot = { name: 'snap-1', created_at: '2026-01-05T10:15:00.000Z', state: 'running', instance_type: 'tiny', vcpus: 1, memory_mb: 512 };
    await h.writeInventory('r1', 'h1', [{ name: 'doc-vm', dom_id: 3, state: 'running', tags: { owner: 'alice' }, snapshots: [snapshot] }]);
    const made = await h.fetch('/v1/vms', { method: 'POST', json: { vm_name: 'doc-new', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' } });
    expect(made.status).toBe(202);
    ids.job = ((await made.json()) as { id: string }).id;
    const queued = await h.fetch('/v1/vms/r1/doc-vm/start', { method: 'POST' });
    expect(queued.status).toBe(202);
    ids.toCancel = ((await queued.json()) as { id: string }).id;
    const hook = await h.fetch('/v1/webhooks', { method: 'POST', json: { url: 'https://hooks.example.org/x', events: ['job.succeeded'] } });
    expect(hook.status).toBe(201);
    ids.hook = ((await hook.json()) as { id: string }).id;
    const other = await h.fetch('/v1/webhooks', { method: 'POST', json: { url: 'https://hooks.example.org/z', events: ['job.failed'] } });
    ids.other = ((await other.json()) as { id: string }).id;
  });

  /** Calls per route, keyed `METHOD /path` as the registry names it; some answer an error on purpose. */
  const calls = (): Record<string, Call[]> => ({
    'GET /health': [{ path: '/health', token: null, status: 200 }],
    'GET /ready': [{ path: '/ready', token: null, status: 200 }],
    'GET /v1/regions': [
      { path: '/v1/regions?hosts=true', status: 200 },
      { path: '/v1/regions?hosts=true', token: TOKENS.read, status: 403 },
    ],
    'GET /v1/images': [{ path: '/v1/images', status: 200 }],
    'POST /v1/regions/{region}/hosts/{host}/cordon': [
      { path: '/v1/regions/r1/hosts/h2/cordon', json: { reason: 'docs' }, status: 200 },
      { path: '/v1/regions/r1/hosts/h9/cordon', status: 404 },
      { path: '/v1/regions/r1/hosts/h2/cordon', json: { why: 1 }, status: 422 },
      { path: '/v1/regions/r1/hosts/h2/cordon', token: TOKENS.write, status: 403 },
    ],
    'GET /v1/regions/{region}/hosts/{host}/drift': [
      { path: '/v1/regions/r1/hosts/h1/drift', status: 200 },
      { path: '/v1/regions/r1/hosts/h1/drift', token: TOKENS.read, status: 403 },
      { path: '/v1/regions/r1/hosts/h9/drift', status: 404 },
    ],
    'POST /v1/regions/{region}/hosts/{host}/drift/clean': [
      { path: '/v1/regions/r1/hosts/h1/drift/clean', status: 202 },
      { path: '/v1/regions/r1/hosts/h9/drift/clean', status: 404 },
    ],
    'POST /v1/regions/{region}/hosts/{host}/uncordon': [
      { path: '/v1/regions/r1/hosts/h2/uncordon', status: 200 },
      { path: '/v1/regions/r1/hosts/h9/uncordon', status: 404 },
    ],
    'GET /v1/get-images': [{ path: '/v1/get-images', token: null, status: 200 }],
    'POST /v1/vms': [
      { path: '/v1/vms', json: { vm_name: 'doc-two', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', tags: { a: 'b' } }, status: 202 },
      { path: '/v1/vms', json: { vm_name: 'doc-vm', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' }, status: 409 },
      { path: '/v1/vms', json: { vm_name: 'Bad Name' }, status: 422 },
      { path: '/v1/vms', token: TOKENS.read, json: {}, status: 403 },
      { path: '/v1/vms', token: 'wrong-token-wrong-token', json: {}, status: 401 },
    ],
    'GET /v1/vms': [
      { path: '/v1/vms', status: 200 },
      { path: '/v1/vms?cursor=not-a-cursor', status: 400 },
    ],
    'GET /v1/vms/{region}/{name}': [
      { path: '/v1/vms/r1/doc-vm', status: 200 },
      { path: '/v1/vms/r1/doc-new', status: 200 },
      { path: '/v1/vms/r1/nope', status: 404 },
    ],
    'GET /v1/vms/{region}/{name}/console': [
      { path: '/v1/vms/r2/lg-start/console?tail_bytes=100', status: 200 },
      { path: '/v1/vms/r2/lg-start/console', token: TOKENS.read, status: 403 },
      { path: '/v1/vms/r2/lg-start/console?tail_bytes=1048577', status: 422 },
      { path: '/v1/vms/r1/nope/console', status: 404 },
    ],
    'POST /v1/vms/{region}/{name}/start': [{ path: '/v1/vms/r1/doc-vm/start', status: 202 }],
    'POST /v1/vms/{region}/{name}/stop': [{ path: '/v1/vms/r1/doc-vm/stop', json: { force: true }, status: 202 }],
    'POST /v1/vms/{region}/{name}/reboot': [{ path: '/v1/vms/r1/doc-vm/reboot', status: 202 }],
    'POST /v1/vms/{region}/{name}/rebuild': [
      { path: '/v1/vms/r1/doc-vm/rebuild', json: { image: 'v0.76.0', delete_snapshots: true }, status: 202 },
      { path: '/v1/vms/r1/doc-vm/rebuild', json: { image: 'v0.76.0' }, status: 409 },
      { path: '/v1/vms/r1/doc-vm/rebuild', json: { image: 'no-such-image' }, status: 422 },
      { path: '/v1/vms/r1/nope/rebuild', json: {}, status: 404 },
    ],
    'POST /v1/vms/{region}/{name}/resize': [
      { path: '/v1/vms/r1/doc-vm/resize', json: { instance_type: 'large', force: true }, status: 202 },
      { path: '/v1/vms/r1/doc-vm/resize', json: { instance_type: 'tiny' }, status: 409 },
      { path: '/v1/vms/r1/doc-vm/resize', json: { instance_type: 'no-such-type' }, status: 422 },
      { path: '/v1/vms/r1/nope/resize', json: { instance_type: 'large' }, status: 404 },
    ],
    'PUT /v1/vms/{region}/{name}/tags': [
      { path: '/v1/vms/r1/doc-vm/tags', json: { tags: { owner: 'alice', env: 'doc' } }, headers: { 'if-match': '"0.stale"' }, status: 412 },
      { path: '/v1/vms/r1/doc-vm/tags', json: { tags: { owner: 'alice', env: 'doc' } }, status: 202 },
    ],
    'DELETE /v1/vms/{region}/{name}': [
      { path: '/v1/vms/r1/doc-vm', status: 202 },
      { path: '/v1/vms/r1/nope', status: 404 },
    ],
    'POST /v1/vms/{region}/{name}/snapshots': [
      { path: '/v1/vms/r1/doc-vm/snapshots', json: { name: 'snap-2' }, status: 202 },
      { path: '/v1/vms/r1/doc-vm/snapshots', json: { name: 'snap-1' }, status: 409 },
      { path: '/v1/vms/r1/doc-vm/snapshots', json: { name: 'Bad Name' }, status: 422 },
      { path: '/v1/vms/r1/nope/snapshots', json: { name: 'snap-1' }, status: 404 },
    ],
    'GET /v1/vms/{region}/{name}/snapshots': [
      { path: '/v1/vms/r1/doc-vm/snapshots', status: 200 },
      { path: '/v1/vms/r1/nope/snapshots', status: 404 },
    ],
    'POST /v1/vms/{region}/{name}/snapshots/{snapshot}/revert': [
      { path: '/v1/vms/r1/doc-vm/snapshots/snap-1/revert', status: 202 },
      { path: '/v1/vms/r1/doc-vm/snapshots/nope/revert', status: 404 },
    ],
    'DELETE /v1/vms/{region}/{name}/snapshots/{snapshot}': [
      { path: '/v1/vms/r1/doc-vm/snapshots/snap-1', status: 202 },
      { path: '/v1/vms/r1/doc-vm/snapshots/nope', status: 404 },
    ],
    'GET /v1/jobs': [
      { path: '/v1/jobs', status: 200 },
      { path: '/v1/jobs?sate=running', status: 422 },
    ],
    'GET /v1/jobs/{id}': [
      { path: `/v1/jobs/${ids.job}`, status: 200 },
      { path: '/v1/jobs/job_00000000000000000000000000000000', status: 404 },
    ],
    'GET /v1/jobs/{id}/events': [
      { path: `/v1/jobs/${ids.job}/events`, status: 200 },
      { path: '/v1/jobs/job_00000000000000000000000000000000/events', status: 404 },
    ],
    'POST /v1/jobs/{id}/cancel': [
      { path: `/v1/jobs/${ids.toCancel}/cancel`, status: 200 },
      { path: `/v1/jobs/${ids.toCancel}/cancel`, status: 409 },
    ],
    'POST /v1/webhooks': [{ path: '/v1/webhooks', json: { url: 'https://hooks.example.org/y', events: ['job.failed'] }, status: 201 }],
    'GET /v1/webhooks': [
      { path: '/v1/webhooks', status: 200 },
      { path: '/v1/webhooks', token: TOKENS.write, status: 403 },
    ],
    'POST /v1/webhooks/{id}/rotate-secret': [
      { path: `/v1/webhooks/${ids.other}/rotate-secret`, status: 200 },
      { path: '/v1/webhooks/whk_00000000000000000000000000000000/rotate-secret', status: 404 },
    ],
    'DELETE /v1/webhooks/{id}': [
      { path: `/v1/webhooks/${ids.hook}`, status: 204 },
      { path: `/v1/webhooks/${ids.hook}`, status: 404 },
    ],
    'GET /v1/jobs/{id}/deliveries': [{ path: `/v1/jobs/${ids.job}/deliveries`, status: 200 }],
    'POST /v1/jobs/{id}/deliveries/{delivery}/redeliver': [{ path: `/v1/jobs/${ids.job}/deliveries/msg_nope/redeliver`, status: 404 }],
    'DELETE /v1/tokens/{name}/sessions': [
      { path: '/v1/tokens/writer/sessions', token: TOKENS.write, status: 200 },
      { path: '/v1/tokens/admin/sessions', token: TOKENS.write, status: 403 },
      { path: '/v1/tokens/nobody/sessions', status: 404 },
    ],
    // The legacy routes wait for their job: done on r2 (200), still queued on r1, which has no worker (504).
    'POST /v1/create': [
      { path: '/v1/create', json: { vm_name: 'lg-new', region_name: 'r2', instance_type: 'tiny', image: 'v0.76.0' }, status: 200 },
      { path: '/v1/create', json: { vm_name: 'doc-legacy', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' }, status: 504 },
    ],
    'GET /v1/list': [{ path: '/v1/list', status: 200 }],
    'POST /v1/start': [
      { path: '/v1/start', json: { vm_name: 'lg-start', region_name: 'r2' }, status: 200 },
      { path: '/v1/start', json: { vm_name: 'doc-vm', region_name: 'r1' }, status: 504 },
    ],
    'POST /v1/stop': [{ path: '/v1/stop', json: { vm_name: 'lg-stop', region_name: 'r2' }, status: 200 }],
    'POST /v1/edit-tags': [{ path: '/v1/edit-tags', json: { vm_name: 'lg-tags', region_name: 'r2', tags: { owner: 'alice' } }, status: 200 }],
    'DELETE /v1/delete': [
      { path: '/v1/delete', json: { vm_name: 'never-was', region_name: 'r1' }, status: 200 },
      { path: '/v1/delete', json: { vm_name: 'lg-delete', region_name: 'r2' }, status: 200 },
      { path: '/v1/delete', json: { vm_name: 'doc-vm', region_name: 'r1' }, status: 504 },
    ],
    'GET /metrics': [{ path: '/metrics', status: 200 }],
  });

  it('for every route of the registry, its success and error answers', { timeout: 60_000 }, async () => {
    const all = calls();
    expect(Object.keys(all).sort()).toEqual(ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort());
    const seen = new Set<string>();
    for (const route of ROUTES) {
      const name = `${route.method.toUpperCase()} ${route.path}`;
      for (const call of all[name] ?? []) {
        const r = await h.fetch(call.path, { method: route.method.toUpperCase(), token: call.token, json: call.json, headers: call.headers });
        const at = `${name} (${call.path}) ${r.status}`;
        expect(r.status, at).toBe(call.status);
        seen.add(`${name} ${r.status}`);
        const response = doc.paths[route.path]?.[route.method]?.responses as Record<string, { content?: Record<string, unknown> }> | undefined;
        const documented = response?.[String(r.status)];
        expect(documented, `${at} is documented`).toBeTruthy();
        const types = Object.keys(documented?.content ?? {});
        if (types.length === 0) {
          expect(await r.text(), at).toBe('');
          continue;
        }
        const type = types[0] as string;
        expect(r.headers.get('content-type') ?? '', at).toContain(type.split(';')[0]);
        if (type !== 'application/json') {
          // A stream or Prometheus text: documented as a string; read what is there and stop.
          await r.body?.cancel();
          continue;
        }
        const pointer = `openapi#/paths/${route.path.replaceAll('~', '~0').replaceAll('/', '~1')}/${route.method}/responses/${r.status}/content/application~1json/schema`;
        const validate = ajv.getSchema(pointer);
        const body = (await r.json()) as unknown;
        expect(validate?.(body), `${at}: ${JSON.stringify(validate?.errors)} ${JSON.stringify(body).slice(0, 300)}`).toBe(true);
      }
    }
    // Every route answered a success at least once, but redeliver: it needs a delivery a worker made.
    const withoutSuccess = ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`).filter(
      (name, i) => !Object.keys(ROUTES[i]?.responses ?? {}).some((s) => seen.has(`${name} ${s}`)),
    );
    expect(withoutSuccess).toEqual(['POST /v1/jobs/{id}/deliveries/{delivery}/redeliver']);
  });
});

// ---- (3) invalid bodies: 422 in the envelope, with or without Content-Type ----

/** Sends a body with no Content-Type header at all (fetch would add `text/plain` to a string body). */
function rawRequest(method: string, path: string, body: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(`${h.url}${path}`);
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname, method, headers: { authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('invalid bodies', () => {
  // Breaks every body schema: a field of the wrong type and an unknown one (strict bodies name it).
  const BAD = JSON.stringify({ vm_name: 123, zzz_unknown: 1 });
  const withBody = ROUTES.filter((r) => r.request?.body);

  it('covers every route with a body', () => {
    expect(withBody.length).toBeGreaterThanOrEqual(12);
  });

  it('are a 422 in the error envelope on every route with a body, with or without Content-Type, and queue nothing', async () => {
    const d = await currentDoc();
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ ...d, $id: 'openapi' });
    const envelope = ajv.getSchema('openapi#/components/schemas/ErrorBody');
    await h.writeInventory('r1', 'h1', [{ name: 'doc-vm' }]);
    const jobsBefore = await h.jobCount();
    for (const route of withBody) {
      const path = route.path.replace('{region}', 'r1').replace('{name}', 'doc-vm').replace('{id}', 'whk_00000000000000000000000000000000');
      const method = route.method.toUpperCase();
      const typed = await h.fetch(path, { method, headers: { 'content-type': 'application/json' }, body: BAD });
      const untyped = await rawRequest(method, path, BAD, TOKENS.admin);
      for (const [how, status, text] of [
        ['application/json', typed.status, await typed.text()],
        ['no Content-Type', untyped.status, untyped.body],
      ] as const) {
        const at = `${method} ${route.path} (${how})`;
        expect(status, `${at}: ${text}`).toBe(422);
        const body = JSON.parse(text) as { error: { code: string; details: Array<{ path: string }> } };
        expect(envelope?.(body), at).toBe(true);
        expect(body.error.code, at).toBe('VALIDATION');
        expect(body.error.details.length, at).toBeGreaterThan(0);
      }
    }
    expect(await h.jobCount()).toBe(jobsBefore);
  });
});
