/**
 * `/openapi.json`: a valid OpenAPI 3.1 document (checked by an independent validator) that lists
 * exactly the routes the Hono router serves, with their errors; and real answers of the API match
 * the response schemas it documents. `/docs` serves Swagger UI from the service itself.
 */

import { readFileSync } from 'node:fs';
import { JOB_KINDS, JOB_STATES, VM_STATES } from '@provisioner/contracts';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { ChangeKind } from '../../src/watch.ts';
import { TOKENS, useHarness } from './harness.ts';

const h = useHarness();

interface Operation {
  tags: string[];
  deprecated?: boolean;
  description?: string;
  security?: unknown[];
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };

async function doc(): Promise<Doc> {
  const r = await fetch(`${h.url}/openapi.json`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toContain('application/json');
  return (await r.json()) as Doc;
}

/** The routes the app serves, as `METHOD /path/{param}`, without middleware, the dashboard and the docs. */
function routerRoutes(): string[] {
  const out = new Set<string>();
  for (const r of h.app.routes) {
    if (r.method === 'ALL' && (r.path === '*' || r.path === '/*')) continue;
    if (/^\/(admin|docs|ui)(\/|$)/.test(r.path) || r.path === '/openapi.json') continue;
    out.add(`${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
  }
  return [...out].sort();
}

function documented(d: Doc): string[] {
  return Object.entries(d.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

describe('/openapi.json', () => {
  it('is served without a token and validates as OpenAPI 3.1', async () => {
    const d = await doc();
    expect(d.openapi).toBe('3.1.0');
    const v = new Validator();
    const res = await v.validate(d as unknown as Parameters<Validator['validate']>[0]);
    expect(res.errors ?? []).toEqual([]);
    expect(res.valid).toBe(true);
    expect(v.version).toBe('3.1');
  });

  it('lists exactly the routes of the router', async () => {
    const routes = routerRoutes();
    expect(routes.length).toBeGreaterThan(15);
    expect(documented(await doc())).toEqual(routes);
  });

  it('documents errors on every route, the envelope included, and marks the legacy routes', async () => {
    const d = await doc();
    const legacy = ['POST /v1/create', 'GET /v1/list', 'POST /v1/start', 'POST /v1/stop', 'POST /v1/edit-tags', 'DELETE /v1/delete', 'GET /v1/get-images'];
    for (const [path, ops] of Object.entries(d.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method.toUpperCase()} ${path}`;
        const statuses = Object.keys(op.responses);
        expect(
          statuses.some((s) => s.startsWith('2')),
          name,
        ).toBe(true);
        expect(statuses, name).toContain('500');
        for (const s of statuses.filter((x) => Number(x) >= 400)) {
          expect(op.responses[s]?.content?.['application/json']?.schema, `${name} ${s}`).toEqual({ $ref: '#/components/schemas/ErrorBody' });
        }
        if (op.security?.length !== 0) expect(statuses, name).toEqual(expect.arrayContaining(['401', '403']));
        if (legacy.includes(name)) {
          expect(op.tags, name).toEqual(['legacy']);
          expect(op.deprecated, name).toBe(false);
          expect(op.description, name).toMatch(/Legacy route/);
        } else {
          expect(op.tags, name).not.toContain('legacy');
        }
      }
    }
  });

  it('matches what the API really answers', async () => {
    const d = await doc();
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ ...d, $id: 'openapi' });
    const check = async (method: string, path: string, template: string, init: { token?: string | null; json?: unknown } = {}) => {
      const r = await h.fetch(path, { method: method.toUpperCase(), ...init });
      const body = (await r.json()) as unknown;
      const status = String(r.status);
      const pointer = `openapi#/paths/${template.replaceAll('~', '~0').replaceAll('/', '~1')}/${method}/responses/${status}/content/application~1json/schema`;
      const validate = ajv.getSchema(pointer);
      expect(validate, `${method} ${template} ${status} is documented`).toBeTruthy();
      expect(validate?.(body), `${method} ${template} ${status}: ${JSON.stringify(validate?.errors)}`).toBe(true);
      return r.status;
    };
    await h.writeInventory('r1', 'h1', [{ name: 'doc-vm', tags: { owner: 'alice' } }]);
    expect(await check('get', '/health', '/health')).toBe(200);
    expect(await check('get', '/v1/regions', '/v1/regions')).toBe(200);
    expect(await check('get', '/v1/images', '/v1/images')).toBe(200);
    expect(await check('get', '/v1/get-images', '/v1/get-images', { token: null })).toBe(200);
    expect(await check('get', '/v1/vms', '/v1/vms')).toBe(200);
    expect(await check('get', '/v1/vms/r1/doc-vm', '/v1/vms/{region}/{name}')).toBe(200);
    expect(await check('get', '/v1/vms/r1/nope', '/v1/vms/{region}/{name}')).toBe(404);
    expect(await check('post', '/v1/vms/r1/doc-vm/start', '/v1/vms/{region}/{name}/start')).toBe(202);
    expect(await check('get', '/v1/jobs', '/v1/jobs')).toBe(200);
    expect(await check('post', '/v1/vms', '/v1/vms', { json: { vm_name: 'Bad Name' } })).toBe(422);
    expect(await check('get', '/v1/list', '/v1/list', { token: 'wrong-token-wrong-token' })).toBe(401);
    expect(await check('post', '/v1/vms', '/v1/vms', { token: TOKENS.read, json: {} })).toBe(403);
  });
});

describe('examples and closed sets', () => {
  type Schema = { properties?: Record<string, Schema>; enum?: string[]; example?: unknown; anyOf?: Schema[]; additionalProperties?: unknown; items?: Schema };
  type Full = Doc & { components: { schemas: Record<string, Schema> } };
  const prop = (s: Schema | undefined, ...path: string[]): Schema | undefined =>
    path.reduce<Schema | undefined>((x, k) => x?.properties?.[k] ?? x?.anyOf?.find((a) => a.properties)?.properties?.[k], s);

  it('lists job states and kinds, libvirt’s VM states, and the transition', async () => {
    const d = (await doc()) as Full;
    const { JobView, VmItem } = d.components.schemas;
    expect(prop(JobView, 'state')?.enum).toEqual([...JOB_STATES]);
    expect(prop(JobView, 'kind')?.enum).toEqual([...JOB_KINDS]);
    expect(prop(VmItem, 'state')?.enum).toEqual([...VM_STATES, 'pending']);
    expect(prop(VmItem, 'state')?.enum).toEqual(expect.arrayContaining(['running', 'shut off', 'paused', 'in shutdown', 'crashed', 'pmsuspended']));
    expect(prop(VmItem, 'transition', 'kind')?.enum).toEqual([...JOB_KINDS]);
    expect(prop(VmItem, 'transition', 'detail')?.example).toBe('graceful shutdown; forcing in 47 s');
    const list = d.paths['/v1/vms']?.get as unknown as { parameters: Array<{ name: string; schema: Schema }> };
    expect(list.parameters.find((p) => p.name === 'state')?.schema.enum).toEqual([...VM_STATES]);
    const jobs = d.paths['/v1/jobs']?.get as unknown as { parameters: Array<{ name: string; schema: Schema }> };
    expect(jobs.parameters.find((p) => p.name === 'state')?.schema.enum).toEqual([...JOB_STATES]);
  });

  it('gives real examples, names the local set-up has (scripts/local-config.mjs), and strict bodies', async () => {
    const d = await doc();
    const op = d.paths['/v1/vms']?.post as unknown as { requestBody: { content: Record<string, { schema: Schema }> } };
    const body = op.requestBody.content['application/json']?.schema;
    expect(body?.additionalProperties).toBe(false);
    const ex = Object.fromEntries(['vm_name', 'region_name', 'instance_type', 'image'].map((k) => [k, prop(body, k)?.example]));
    expect(ex).toEqual({ vm_name: 'amber-otter', region_name: 'local', instance_type: 'small', image: 'tiny' });
    const local = readFileSync(new URL('../../../../scripts/local-config.mjs', import.meta.url), 'utf8');
    expect(local).toContain('region_name: local');
    expect(local).toContain('instance_type: small');
    expect(local).toMatch(/^ {2}tiny: /m);
    // The API's README example names what the local set-up has, too.
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const sent = JSON.parse(/-d '(\{"vm_name".*?\})'/.exec(readme)?.[1] ?? '{}') as Record<string, string>;
    expect({ region_name: sent.region_name, instance_type: sent.instance_type, image: sent.image }).toEqual({
      region_name: 'local',
      instance_type: 'small',
      image: 'tiny',
    });
  });

  it('documents every event name the job stream sends', async () => {
    const d = await doc();
    const text = d.paths['/v1/jobs/{id}/events']?.get?.description ?? '';
    // Every name the watcher can send (the type makes this list complete), and the stream's own `error`.
    const names: Record<ChangeKind | 'error', true> = { snapshot: true, state: true, step: true, progress: true, error: true };
    for (const name of Object.keys(names)) expect(text).toContain(`\`${name}\``);
  });
});

describe('/docs', () => {
  it('serves the reference page and its assets from the service, without a token and without Redis-dependent routes', async () => {
    const page = await fetch(`${h.url}/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).not.toMatch(/(src|href)="https?:/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    for (const src of [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)].map((m) => m[1] as string)) {
      const r = await fetch(`${h.url}${src}`);
      expect(r.status, src).toBe(200);
      expect((await r.arrayBuffer()).byteLength, src).toBeGreaterThan(0);
    }
    const init = await (await fetch(`${h.url}/docs/init.js`)).text();
    expect(init).toContain("url: '/openapi.json'");
    expect(init).toContain('validatorUrl: null');
    // Only the listed files of the package are served.
    expect((await fetch(`${h.url}/docs/package.json`)).status).toBe(404);
    expect((await fetch(`${h.url}/docs/..%2F..%2Fpackage.json`)).status).not.toBe(200);
  });
});
