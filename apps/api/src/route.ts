/**
 * One endpoint = one route object: what the app serves and what `/openapi.json` documents come from
 * the same object (src/routes/index.ts lists them). Its metadata says who may call it (`auth`), whether
 * it needs Redis, its request schemas (the body is read and validated here, before the handler runs)
 * and its responses; the documented errors follow from them (see `routeErrors`).
 *
 * @example
 * export default defineRoute({
 *   method: 'post', path: '/v1/vms/{region}/{name}/start', tag: 'vms', summary: 'Start a VM', auth: 'write',
 *   request: { params: VmPath, body: CallbackBody, bodyOptional: true },
 *   responses: { 202: { description: 'Accepted', schema: JobView } },
 *   errors: ['NOT_FOUND'],
 *   handler: (c, s, body) => …,
 * });
 */
import type { JobKind } from '@provisioner/contracts';
import type { Context, Hono } from 'hono';
import type { z } from 'zod';
import type { AppEnv, Services } from './context.ts';
import { ApiError, ERROR_STATUS, type ErrorCode } from './errors.ts';
import { hasScope } from './middleware.ts';
import { jsonBody } from './validation.ts';

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

export interface Route<B extends z.ZodType = z.ZodType> {
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
    params?: z.ZodObject;
    /** Documented here; the handler validates it (some read repeated parameters). */
    query?: z.ZodObject;
    /** Request headers the route reads (documented; the handler reads them). */
    headers?: z.ZodObject;
    /** Read as JSON whatever the Content-Type says, validated (422) before the handler runs. */
    body?: B;
    /** The body may be left out (`{}` is assumed). */
    bodyOptional?: boolean;
  };
  /** The kind of job the route queues: its answers that are a job are documented with an example of that kind. */
  job?: JobKind;
  /** The success answers by status. */
  responses: Record<number, ResponseDoc>;
  /** Errors particular to the route; the auth, body, Redis and 500 errors follow from the fields above. */
  errors?: ErrorCode[];
  handler: (c: Context<AppEnv>, s: Services, body: z.output<B>) => Response | Promise<Response>;
}

/** Types a route object (its handler's body from its body schema). */
export function defineRoute<B extends z.ZodType = z.ZodUndefined>(r: Route<B>): Route {
  return r as unknown as Route;
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

/** Serves the routes on `app`: scope, then body, then the handler. */
export function mountRoutes(app: Hono<AppEnv>, routes: readonly Route[], s: Services): void {
  checkRoutes(routes);
  for (const r of routes) {
    app.on(r.method.toUpperCase(), honoPath(r.path), async (c) => {
      requireScope(c, r.auth);
      const body = r.request?.body ? await jsonBody(c, r.request.body, { optional: r.request.bodyOptional ?? false }) : undefined;
      return r.handler(c, s, body);
    });
  }
}
