/**
 * The docs page's "Try it out" (issue 23): Swagger UI fills each request body from the document, field by
 * field: a field's `example`, else its `default`, else the first of its `enum`, else a placeholder for its
 * type ("string", 0, true), through properties, items, allOf, oneOf and anyOf. Built here the same way from
 * the served /openapi.json, every operation's sample body must pass the route's own zod schema, with no
 * placeholder needed; and an operation's answer example must be about that operation (a create's 202 shows a
 * create job).
 */
import { JOB_KINDS } from '@provisioner/contracts';
import { JobView } from '@provisioner/contracts/api';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/routes/index.ts';
import { useHarness } from './harness.ts';

const h = useHarness();

type Schema = Record<string, unknown>;
type Doc = { paths: Record<string, Record<string, Schema>>; components: { schemas: Record<string, Schema> } };

/** Swagger UI's placeholders for a type without example, default or enum. */
const PLACEHOLDER: Record<string, unknown> = { string: 'string', number: 0, integer: 0, boolean: true, null: null };

/**
 * Swagger UI's sample of a schema (its `sampleFromSchema`, request side): `placeholders` collects where a
 * placeholder had to be made up (a field the document gives no realistic value).
 */
export function sample(doc: Doc, s: Schema | undefined, at: string, placeholders: string[]): unknown {
  if (!s) return undefined;
  if (typeof s.$ref === 'string') return sample(doc, doc.components.schemas[s.$ref.replace('#/components/schemas/', '')], at, placeholders);
  if (s.example !== undefined) return s.example;
  if (Array.isArray(s.examples) && s.examples.length > 0) return s.examples[0];
  if (s.default !== undefined) return s.default;
  if (s.const !== undefined) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  if (Array.isArray(s.allOf)) return Object.assign({}, ...(s.allOf as Schema[]).map((x) => sample(doc, x, at, placeholders)));
  for (const k of ['oneOf', 'anyOf'] as const) {
    // The first alternative that is not `null` (Swagger UI shows the first; a nullable field's null is never it).
    const alts = (s[k] as Schema[] | undefined)?.filter((x) => x.type !== 'null');
    if (alts?.length) return sample(doc, alts[0], at, placeholders);
  }
  const type = Array.isArray(s.type) ? (s.type as string[]).find((t) => t !== 'null') : (s.type as string | undefined);
  if (type === 'object' || s.properties) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) {
      if (v.readOnly) continue;
      out[k] = sample(doc, v, at ? `${at}.${k}` : k, placeholders);
    }
    if (s.additionalProperties && typeof s.additionalProperties === 'object') {
      placeholders.push(`${at}{}`);
      out.additionalProp1 = sample(doc, s.additionalProperties as Schema, `${at}{}`, placeholders);
    }
    return out;
  }
  if (type === 'array') return [sample(doc, s.items as Schema, `${at}[]`, placeholders)];
  placeholders.push(at || '(body)');
  return PLACEHOLDER[type ?? 'string'] ?? 'string';
}

async function doc(): Promise<Doc> {
  return (await (await fetch(`${h.url}/openapi.json`)).json()) as Doc;
}

describe('"Try it out" on the docs page', () => {
  it('builds for every operation with a body a sample its route accepts, from realistic examples only', async () => {
    const d = await doc();
    const withBody = ROUTES.filter((r) => r.request?.body);
    expect(withBody.length).toBeGreaterThanOrEqual(12);
    for (const r of withBody) {
      const name = `${r.method.toUpperCase()} ${r.path}`;
      const op = d.paths[r.path]?.[r.method] as { requestBody?: { content?: Record<string, { schema?: Schema }> } } | undefined;
      const placeholders: string[] = [];
      const body = sample(d, op?.requestBody?.content?.['application/json']?.schema, '', placeholders);
      expect(placeholders, `${name}: fields without an example, default or enum`).toEqual([]);
      const parsed = r.request?.body?.safeParse(body);
      expect(parsed?.success, `${name}: ${JSON.stringify(body)} → ${JSON.stringify(parsed?.error?.issues)}`).toBe(true);
    }
  });

  it('marks URL fields `format: uri`', async () => {
    const d = await doc();
    const create = d.paths['/v1/vms']?.post as { requestBody: { content: { 'application/json': { schema: { properties: Record<string, Schema> } } } } };
    expect(create.requestBody.content['application/json'].schema.properties.webhook_url).toMatchObject({ format: 'uri' });
    const hook = d.paths['/v1/webhooks']?.post as { requestBody: { content: { 'application/json': { schema: { properties: Record<string, Schema> } } } } };
    expect(hook.requestBody.content['application/json'].schema.properties.url).toMatchObject({ format: 'uri' });
  });

  it('the sample builder would notice a field without an example (so the test above can fail)', () => {
    const placeholders: string[] = [];
    const d = { paths: {}, components: { schemas: {} } };
    expect(sample(d, { type: 'object', properties: { webhook_url: { type: 'string' }, n: { type: 'integer', default: 3 } } }, '', placeholders)).toEqual({
      webhook_url: 'string',
      n: 3,
    });
    expect(placeholders).toEqual(['webhook_url']);
  });

  it('shows each job-queuing operation’s answer as a job of its own kind, valid against the job schema', async () => {
    const d = await doc();
    const kinds: Record<string, string> = {};
    for (const r of ROUTES) {
      for (const [status, res] of Object.entries(r.responses)) {
        if (res.schema !== JobView) continue;
        const name = `${r.method.toUpperCase()} ${r.path} ${status}`;
        const op = d.paths[r.path]?.[r.method] as { responses: Record<string, { content?: Record<string, { example?: unknown }> }> };
        const example = op.responses[status]?.content?.['application/json']?.example as { kind?: string; started_at?: unknown } | undefined;
        expect(example, `${name} has an example`).toBeTruthy();
        expect(JobView.safeParse(example).success, name).toBe(true);
        expect(JOB_KINDS).toContain(example?.kind);
        expect(example?.started_at, name).not.toBe('string');
        kinds[name] = example?.kind as string;
      }
    }
    expect(kinds).toMatchObject({
      'POST /v1/vms 202': 'create',
      'POST /v1/vms/{region}/{name}/start 202': 'start',
      'POST /v1/vms/{region}/{name}/stop 202': 'stop',
      'POST /v1/vms/{region}/{name}/reboot 202': 'reboot',
      'POST /v1/vms/{region}/{name}/rebuild 202': 'rebuild',
      'POST /v1/vms/{region}/{name}/resize 202': 'resize',
      'PUT /v1/vms/{region}/{name}/tags 202': 'edit-tags',
      'DELETE /v1/vms/{region}/{name} 202': 'delete',
      'POST /v1/vms/{region}/{name}/snapshots 202': 'snapshot-create',
      'POST /v1/vms/{region}/{name}/snapshots/{snapshot}/revert 202': 'snapshot-revert',
      'DELETE /v1/vms/{region}/{name}/snapshots/{snapshot} 202': 'snapshot-delete',
      'POST /v1/regions/{region}/hosts/{host}/drift/clean 202': 'drift-clean',
    });
  });
});
