/**
 * One endpoint = one route object: what the app serves and what `/openapi.json` documents come from
 * the same object (src/routes/index.ts lists them). Its metadata says who may call it (`auth`), whether
 * it needs Redis, its request schemas and its responses; the documented errors follow from them (see
 * `routeErrors`). Every input the handler reads is validated here, before it runs: the path parameters,
 * the query (strict: an unknown parameter is a 422, as an unknown body field is) and the body; the
 * handler gets them typed from the schemas as `{ params, query, body }`.
 *
 * @example
 * export default defineRoute({
 *   method: 'post', path: '/v1/vms/{region}/{name}/start', tag: 'vms', summary: 'Start a VM', auth: 'write',
 *   request: { params: VmPath, body: CallbackBody, bodyOptional: true },
 *   responses: { 202: { description: 'Accepted', schema: JobView } },
 *   errors: ['NOT_FOUND'],
 *   handler: (c, s, { params, body }) => …,
 * });
 */
import type { JobKind } from '@provisioner/contracts';
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv, Services } from './context.ts';
import { ApiError, ERROR_STATUS, type ErrorCode } from './errors.ts';
import { hasScope } from './middleware.ts';
import { jsonBody, pathParams, queryParams } from './validation.ts';

export type Method = 'get' | 'post' | 'put' | 'delete';

/** `open`: no token; `read`/`write`: the scope (GET needs read, the rest write); `admin`: admin tokens only. */
export type Auth = 'open' | 'read' | 'write' | 'admin';

export type Tag = 'vms' | 'jobs' | 'webhooks' | 'catalog' | 'hosts' | 'sessions' | 'health' | 'metrics' | 'legacy';

export interface ResponseDoc {
  description: string;
  /** The JSON body; absent for an empty answer (204). */
  schema?: z.ZodType;
  /** Another content type than JSON (its body documented as a string): an event stream, Prometheus text. */
  contentType?: string;
  /** An example of the whole answer, when the fields' own examples would not make one that fits the operation. */
  example?: unknown;
  /** Header name → what it says. */
  headers?: Record<string, string>;
}

/** What a route takes in no path parameters, or in its query when it declares none (strict: any parameter is a 422). */
export const NO_PARAMS = z.strictObject({});

/** The inputs a handler gets, validated and typed by the route's schemas. */
export interface Input<P extends z.ZodObject, Q extends z.ZodObject, B extends z.ZodType> {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
}

export interface Route<P extends z.ZodObject = z.ZodObject, Q extends z.ZodObject = z.ZodObject, B extends z.ZodType = z.ZodType> {
  method: Method;
  /** OpenAPI style: `/v1/vms/{region}/{name}`. */
  path: string;
  tag: Tag;
  summary: string;
  description?: string;
  auth: Auth;
  /** False when the route answers while Redis is down (from the configuration, or checking Redis itself). */
  needsRedis: boolean;
  request?: {
    /** One key per `{name}` of the path (checkRoutes); validated (422) before the handler runs. */
    params?: P;
    /** Strict, validated (422) before the handler runs; absent: the route takes no query parameter. */
    query?: Q;
    /** Request headers the route reads (documented; the handler reads them). */
    headers?: z.ZodObject;
    /** Read as JSON whatever the Content-Type says, validated (422) before the handler runs. */
    body?: B;
    /** The body may be left out (`{}` is assumed). */
    bodyOptional?: boolean;
  };
  /**
   * The query is not read and any parameter in it ignored, as the replaced service did: its legacy routes and
   * `/health` keep that (docs/legacy-api.md), so a client adding a cache-buster is not refused.
   */
  ignoresQuery?: true;
  /** The kind of job the route queues: its answers that are a job are documented with an example of that kind. */
  job?: JobKind;
  /** The success answers by status. */
  responses: Record<number, ResponseDoc>;
  /** Errors particular to the route; the auth, input, Redis and 500 errors follow from the fields above. */
  errors?: ErrorCode[];
  /** A method, so a route of particular schemas is a `Route` of any (the registry's type) without a cast. */
  handler(c: Context<AppEnv>, s: Services, input: Input<P, Q, B>): Response | Promise<Response>;
}

/** Types a route object: its handler's `{ params, query, body }` from its schemas. */
export function defineRoute<P extends z.ZodObject = typeof NO_PARAMS, Q extends z.ZodObject = typeof NO_PARAMS, B extends z.ZodType = z.ZodUndefined>(
  r: Route<P, Q, B>,
): Route {
  return r;
}

/** Hono's form of a path: `{name}` → `:name`. */
export function honoPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/** Every error code a route can answer, from its own list and its metadata. */
export function routeErrors(r: Route): ErrorCode[] {
  const codes = new Set<ErrorCode>(r.errors ?? []);
  if (r.auth !== 'open') codes.add('UNAUTHORIZED').add('FORBIDDEN').add('RATE_LIMITED');
  if (r.request?.body) codes.add('BAD_REQUEST').add('PAYLOAD_TOO_LARGE').add('VALIDATION');
  // Path parameters and the query are validated (a route without a query refuses any parameter).
  if (r.request?.params || !r.ignoresQuery) codes.add('VALIDATION');
  if (r.needsRedis) codes.add('UNAVAILABLE');
  codes.add('INTERNAL');
  return [...codes].sort((a, b) => ERROR_STATUS[a] - ERROR_STATUS[b]);
}

/** `METHOD /path` of the open routes (HEAD with GET), for the auth middleware, which runs before routing. */
export function openRoutes(routes: readonly Route[]): Set<string> {
  const out = new Set<string>();
  for (const r of routes.filter((x) => x.auth === 'open')) {
    out.add(`${r.method.toUpperCase()} ${r.path}`);
    if (r.method === 'get') out.add(`HEAD ${r.path}`);
  }
  return out;
}

/** Paths of the routes that answer while Redis is down. */
export function pathsWithoutRedis(routes: readonly Route[]): Set<string> {
  return new Set(routes.filter((r) => !r.needsRedis).map((r) => r.path));
}

/**
 * Checks what the middleware relies on: open and Redis-free routes are matched by their exact path
 * before routing, so they must not have parameters; and the scope agrees with the method, as the
 * auth middleware checks it.
 */
export function checkRoutes(routes: readonly Route[]): void {
  const seen = new Set<string>();
  for (const r of routes) {
    const name = `${r.method.toUpperCase()} ${r.path}`;
    if (seen.has(name)) throw new Error(`${name} is defined twice`);
    seen.add(name);
    if ((r.auth === 'open' || !r.needsRedis) && r.path.includes('{')) throw new Error(`${name}: open or Redis-free routes need a fixed path`);
    // A GET may ask for `write` on top of the `read` the middleware checks (a console can show secrets);
    // other methods must not ask for less than the middleware's `write`.
    if (r.auth === 'read' && r.method !== 'get') throw new Error(`${name}: auth ${r.auth} does not fit the method`);
    // Every path parameter has its schema, and only those.
    const names = [...r.path.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]).sort();
    const keys = Object.keys(r.request?.params?.shape ?? {}).sort();
    if (names.join() !== keys.join()) throw new Error(`${name}: path parameters ${names.join(', ')} but schema keys ${keys.join(', ')}`);
    // Queries are strict like bodies (an unknown parameter is a 422), but where the route ignores the query.
    const query = r.request?.query;
    if (query && !(query._zod.def.catchall instanceof z.ZodNever)) throw new Error(`${name}: its query schema must be strict (z.strictObject)`);
    if (query && r.ignoresQuery) throw new Error(`${name}: a query schema on a route that ignores the query`);
  }
}

function requireScope(c: Context<AppEnv>, auth: Auth): void {
  if (auth === 'open') return;
  const caller = c.get('caller');
  if (auth === 'admin') {
    if (!caller?.scopes.includes('admin')) throw new ApiError('FORBIDDEN', `token '${caller?.name ?? 'anonymous'}' lacks the 'admin' scope`);
    return;
  }
  if (!caller || !hasScope(caller, auth)) throw new ApiError('FORBIDDEN', `token '${caller?.name ?? 'anonymous'}' lacks the '${auth}' scope`);
}

/** Serves the routes on `app`: scope, then path parameters, query and body (422 before anything runs), then the handler. */
export function mountRoutes(app: Hono<AppEnv>, routes: readonly Route[], s: Services): void {
  checkRoutes(routes);
  for (const r of routes) {
    app.on(r.method.toUpperCase(), honoPath(r.path), async (c) => {
      requireScope(c, r.auth);
      const params = pathParams(c, r.request?.params ?? NO_PARAMS);
      const query = r.ignoresQuery ? {} : queryParams(c, r.request?.query ?? NO_PARAMS);
      const body = r.request?.body ? await jsonBody(c, r.request.body, { optional: r.request.bodyOptional ?? false }) : undefined;
      return r.handler(c, s, { params, query, body });
    });
  }
}
