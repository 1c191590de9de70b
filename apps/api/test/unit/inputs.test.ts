/**
 * Every input a route reads is validated before its handler runs (issue 24): path parameters and the query
 * go through their schemas like bodies. A path parameter that breaks its rule, a query value of the wrong
 * form, a parameter given twice and a parameter the route does not know are each a 422 in the one error
 * envelope, naming the parameter, and nothing is queued or reserved. The replaced service's routes and
 * `/health` ignore the query as they always did.
 */
import { ErrorBody } from '@provisioner/contracts/api';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkRoutes, defineRoute, NO_PARAMS, type Route } from '../../src/route.ts';
import { ROUTES } from '../../src/routes/index.ts';
import { useHarness } from './harness.ts';

const h = useHarness();

/** A path of the route whose parameters are all well-formed (they may name nothing: the 422 comes first). */
function goodPath(r: Route, over: Record<string, string> = {}): string {
  const values: Record<string, string> = { region: 'r1', name: 'in-vm', host: 'h1', snapshot: 'snap-1', id: 'job_00000000000000000000000000000000' };
  if (r.path.startsWith('/v1/webhooks/')) values.id = 'whk_00000000000000000000000000000000';
  if (r.path.startsWith('/v1/tokens/')) values.name = 'writer';
  values.delivery = 'msg_00000000000000000000000000000000';
  return r.path.replace(/\{([a-z]+)\}/g, (_m, k: string) => encodeURIComponent(over[k] ?? values[k] ?? 'x'));
}

/** A body the route accepts in form, so that only the query or path can be refused. */
function goodBody(r: Route): unknown {
  if (!r.request?.body) return undefined;
  if (r.path === '/v1/vms') return { vm_name: 'in-new', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' };
  if (r.path === '/v1/webhooks') return { url: 'https://hooks.example.org/in', events: ['job.failed'] };
  if (r.path.endsWith('/resize')) return { instance_type: 'large' };
  if (r.path.endsWith('/tags')) return { tags: { owner: 'alice' } };
  if (r.path.endsWith('/snapshots')) return { name: 'snap-2' };
  return {};
}

interface Answer {
  status: number;
  body: ErrorBody;
}

async function call(r: Route, path: string): Promise<Answer> {
  const res = await h.fetch(path, { method: r.method.toUpperCase(), json: goodBody(r) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as ErrorBody };
}

/** The answer is a 422 in the envelope (the contract's schema) whose details name `field`. */
function expectRefused(a: Answer, field: string, at: string): void {
  expect(a.status, at).toBe(422);
  expect(ErrorBody.safeParse(a.body).success, `${at}: ${JSON.stringify(a.body)}`).toBe(true);
  expect(a.body.error.code, at).toBe('VALIDATION');
  expect(a.body.error.details, at).toEqual(expect.arrayContaining([expect.objectContaining({ path: field })]));
  expect(a.body.error.message, at).toContain(field);
}

/** What a refused request must leave as it was: the queues and every key under the prefix. */
async function state(): Promise<{ jobs: number; keys: string[] }> {
  return { jobs: await h.jobCount(), keys: (await h.prefixKeys()).sort() };
}

const validated = ROUTES.filter((r) => !r.ignoresQuery);

beforeAll(async () => {
  await h.writeInventory('r1', 'h1', [{ name: 'in-vm', snapshots: [] }]);
  // The token's first success from this address is recorded (auth's bookkeeping): done before any `state()`.
  expect((await h.fetch('/v1/regions')).status).toBe(200);
});

describe('path parameters', () => {
  it('a region, VM, host or snapshot name that breaks its rule is a 422 naming the parameter, on every route that has one', async () => {
    const before = await state();
    const bad: Record<string, string> = { region: 'r1;reboot', name: 'Bad;Name', host: 'h1 h2', snapshot: '../snap' };
    let checked = 0;
    for (const r of ROUTES) {
      for (const key of Object.keys(r.request?.params?.shape ?? {})) {
        if (r.path.startsWith('/v1/tokens/')) continue;
        const value = bad[key] ?? 'x'.repeat(200);
        const at = `${r.method.toUpperCase()} ${r.path} ${key}=${value}`;
        expectRefused(await call(r, goodPath(r, { [key]: value })), key, at);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(40);
    expect(await state()).toEqual(before);
  });

  it('a well-formed name of nothing is still a 404, a token name that cannot be one a 422', async () => {
    expect((await h.fetch('/v1/vms/nowhere/in-vm')).status).toBe(404);
    expect((await h.fetch('/v1/vms/r1/no-such-vm')).status).toBe(404);
    expect((await h.fetch('/v1/jobs/job_00000000000000000000000000000000')).status).toBe(404);
    const token = (await call(ROUTES.find((r) => r.path === '/v1/tokens/{name}/sessions') as Route, '/v1/tokens/a%20b/sessions')) satisfies Answer;
    expectRefused(token, 'name', 'DELETE /v1/tokens/a b/sessions');
  });
});

describe('queries', () => {
  it('an unknown parameter is a 422 naming it on every route but the legacy ones and /health, and nothing is queued', async () => {
    const before = await state();
    for (const r of validated) {
      expectRefused(await call(r, `${goodPath(r)}?zzz_unknown=1`), 'zzz_unknown', `${r.method.toUpperCase()} ${r.path}`);
    }
    expect(validated.length).toBeGreaterThanOrEqual(30);
    expect(await state()).toEqual(before);
  });

  it('a value of the wrong form is a 422 naming the parameter, and nothing is queued', async () => {
    const before = await state();
    const cases: Array<[string, string, string]> = [
      ['GET /v1/vms', '/v1/vms?limit=lots', 'limit'],
      ['GET /v1/vms', '/v1/vms?managed=perhaps', 'managed'],
      ['GET /v1/vms/{region}/{name}', '/v1/vms/r1/in-vm?refresh=soon', 'refresh'],
      ['GET /v1/vms/{region}/{name}/console', '/v1/vms/r1/in-vm/console?tail_bytes=0', 'tail_bytes'],
      ['GET /v1/jobs', '/v1/jobs?offset=-1', 'offset'],
      ['GET /v1/regions', '/v1/regions?hosts=yes', 'hosts'],
    ];
    for (const [name, path, field] of cases) {
      const r = ROUTES.find((x) => `${x.method.toUpperCase()} ${x.path}` === name) as Route;
      expectRefused(await call(r, path), field, path);
    }
    expect(await state()).toEqual(before);
  });

  it('a parameter given twice is a 422 (which was meant?), but a list parameter (tag) repeats', async () => {
    const list = ROUTES.find((r) => r.method === 'get' && r.path === '/v1/vms') as Route;
    expectRefused(await call(list, '/v1/vms?state=running&state=paused'), 'state', 'state twice');
    expect((await call(list, '/v1/vms?tag=owner&tag=env')).status).toBe(200);
  });

  it('are documented: every query schema’s parameters appear in /openapi.json', async () => {
    const doc = (await (await fetch(`${h.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: Array<{ in: string; name: string }> }>>;
    };
    for (const r of ROUTES.filter((x) => x.request?.query)) {
      const documented = (doc.paths[r.path]?.[r.method]?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      expect(documented.sort(), r.path).toEqual(Object.keys(r.request?.query?.shape ?? {}).sort());
    }
  });

  it('the legacy routes and /health ignore the query, as the replaced service did', async () => {
    const lenient = ROUTES.filter((r) => r.ignoresQuery).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(lenient.sort()).toEqual(
      [
        'GET /health',
        'GET /v1/get-images',
        'GET /v1/list',
        'POST /v1/create',
        'POST /v1/start',
        'POST /v1/stop',
        'POST /v1/edit-tags',
        'DELETE /v1/delete',
      ].sort(),
    );
    expect((await h.fetch('/health?zzz_unknown=1', { token: null })).status).toBe(200);
    expect((await h.fetch('/v1/get-images?_=1', { token: null })).status).toBe(200);
    // A legacy body error is still its 422; the query is not what it names.
    const r = await h.fetch('/v1/start?zzz_unknown=1', { method: 'POST', json: { vm_name: 'Bad Name', region_name: 'r1' } });
    expect(r.status).toBe(422);
    expect(JSON.stringify(await r.json())).not.toContain('zzz_unknown');
  });

  it('a route without a query schema refuses any parameter (the default is the strict empty query)', () => {
    expect(NO_PARAMS.safeParse({ a: '1' }).success).toBe(false);
    expect(NO_PARAMS.safeParse({}).success).toBe(true);
  });
});

describe('the registry’s checks (checkRoutes, at start)', () => {
  const route = (over: Partial<Route>): Route =>
    defineRoute({
      method: 'get',
      path: '/v1/x/{id}',
      tag: 'jobs',
      summary: 'x',
      auth: 'read',
      needsRedis: true,
      request: { params: z.strictObject({ id: z.string() }) },
      responses: { 200: { description: 'x' } },
      handler: (c) => c.body(null, 204),
      ...over,
    });

  it('passes the registry', () => {
    expect(() => checkRoutes(ROUTES)).not.toThrow();
    expect(() => checkRoutes([route({})])).not.toThrow();
  });

  it('refuses a path parameter without its schema, a query schema that is not strict, a query on a route that ignores it', () => {
    expect(() => checkRoutes([route({ request: {} })])).toThrow(/path parameters id but schema keys/);
    expect(() => checkRoutes([route({ request: { params: z.strictObject({ id: z.string() }), query: z.object({ a: z.string() }) } })])).toThrow(/strict/);
    expect(() => checkRoutes([route({ request: { params: z.strictObject({ id: z.string() }), query: z.strictObject({}) }, ignoresQuery: true })])).toThrow(
      /ignores the query/,
    );
  });
});
