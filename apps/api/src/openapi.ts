/**
 * The OpenAPI 3.1 description of the API, generated from the route objects (src/routes/index.ts):
 * each route's schemas, its success answers, and the errors its metadata implies (`routeErrors`), in
 * the one error envelope. Legacy routes (tag `legacy`) carry the note below.
 */
import type { JobKind } from '@provisioner/contracts';
import { ErrorBody, HostStatus, JobView, VmItem } from '@provisioner/contracts/api';
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponseObject } from 'zod-openapi';
import { ERROR_STATUS, type ErrorCode, STATUS_TEXT } from './errors.ts';
import { type ResponseDoc, type Route, routeErrors } from './route.ts';
import { ROUTES } from './routes/index.ts';
import { jobExample, LEGACY_NOTE } from './schemas.ts';

const json = (schema: z.ZodType) => ({ 'application/json': { schema } });

function response(d: ResponseDoc, job: JobKind | undefined): ZodOpenApiResponseObject {
  // An answer that is a job shows a job of the route's kind (its fields' own examples would make a job of no operation in particular).
  const example = d.example ?? (d.schema === JobView ? jobExample(job ?? 'create') : undefined);
  return {
    description: d.description,
    ...(d.headers ? { headers: z.object(Object.fromEntries(Object.entries(d.headers).map(([k, v]) => [k, z.string().meta({ description: v })]))) } : {}),
    ...(d.contentType
      ? { content: { [d.contentType]: { schema: z.string() } } }
      : d.schema
        ? { content: { 'application/json': { schema: d.schema, ...(example !== undefined ? { example } : {}) } } }
        : {}),
  };
}

function operation(r: Route): ZodOpenApiOperationObject {
  const responses: Record<string, ZodOpenApiResponseObject> = {};
  for (const [status, d] of Object.entries(r.responses)) responses[status] = response(d, r.job);
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of routeErrors(r)) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, codes] of byStatus) {
    responses[String(status)] = {
      description: `${STATUS_TEXT[status] ?? 'Error'} (error.code ${codes.map((c) => `\`${c}\``).join(', ')})`,
      content: json(ErrorBody),
    };
  }
  const legacy = r.tag === 'legacy';
  const description = legacy ? `${r.description ? `${r.description}\n\n` : ''}${LEGACY_NOTE}` : r.description;
  const { params, query, headers, body, bodyOptional } = r.request ?? {};
  return {
    operationId: `${r.method}${r.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
    tags: [r.tag],
    summary: r.summary,
    ...(description ? { description } : {}),
    ...(legacy ? { deprecated: false } : {}),
    ...(r.auth === 'open' ? { security: [] } : {}),
    ...(params || query || headers
      ? { requestParams: { ...(params ? { path: params } : {}), ...(query ? { query } : {}), ...(headers ? { header: headers } : {}) } }
      : {}),
    ...(body ? { requestBody: { required: !bodyOptional, content: json(body) } } : {}),
    responses: responses as ZodOpenApiOperationObject['responses'],
  };
}

/** The OpenAPI 3.1 document of the routes. */
export function openApiDocument(version = '0.1.0', routes: readonly Route[] = ROUTES): Record<string, unknown> {
  const paths: ZodOpenApiPathsObject = {};
  for (const r of routes) paths[r.path] = { ...paths[r.path], [r.method]: operation(r) };
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Provisioner API',
      version,
      description:
        'Provisions libvirt VMs on hypervisor hosts over SSH. Mutations answer 202 with a job to follow (`/v1/jobs/{id}`, or its `/events` stream). Send the token as `Authorization: Bearer <token>` (or the bare token, as the replaced service took it). GET needs the `read` scope, everything else `write`; `admin` has both. Routes tagged `legacy` are the replaced service’s, unchanged. Every mutating route takes an `Idempotency-Key` header (1-255 printable ASCII): a replay with the same key and body answers as the first request did (same job), another body with the same key is 422. Repeated failed authentication from one client address is answered 429 + `Retry-After` for a while, a right token too unless it authenticated from that address lately. Tokens may carry a rate limit (429 + `Retry-After`) and be bound to an owner (they see only VMs and jobs with that `owner` tag).',
    },
    tags: [
      { name: 'vms', description: 'Virtual machines' },
      { name: 'jobs', description: 'Operations and their progress' },
      { name: 'webhooks', description: 'Signed callbacks (Standard Webhooks) when jobs end, and their delivery log' },
      { name: 'catalog', description: 'Regions, instance types and images' },
      { name: 'hosts', description: 'Host maintenance (admin): cordon, uncordon, drift and its clean-up' },
      { name: 'sessions', description: 'Browser sessions (VM page and dashboard) of a token' },
      { name: 'health', description: 'Liveness and readiness (no token)' },
      { name: 'metrics', description: 'Prometheus metrics (docs/metrics.md)' },
      { name: 'legacy', description: 'The replaced service’s routes, kept for its clients' },
    ],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token from the configuration' } },
      schemas: { ErrorBody, JobView, VmItem, HostStatus },
    },
    paths,
  }) as unknown as Record<string, unknown>;
}
