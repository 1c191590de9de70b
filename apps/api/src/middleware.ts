/**
 * Cross-cutting middleware: request id, one log line per request, authentication with scopes, and a
 * fast 503 when Redis is down (instead of requests that hang until it comes back).
 */
import { randomUUID } from 'node:crypto';
import { type Config, identifyToken, type Scope, scopesAllow, type TokenConfig, tokenByDigest } from '@provisioner/contracts';
import type { MiddlewareHandler } from 'hono';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AppEnv, Caller } from './context.ts';
import { ApiError } from './errors.ts';
import type { AuthThrottle } from './throttle.ts';

/**
 * Paths that do not take a token header: the open routes (`METHOD /path`, from the routes' `auth: 'open'`),
 * the API reference (`/openapi.json`, `/docs`: read-only
 * documentation of the routes, no configuration or data in it), the dashboard (`/admin/…`) and the VM
 * page (`/ui/…`), whose routes authenticate with their own session cookies (src/admin/routes.ts,
 * src/ui/routes.ts).
 */
export function withoutToken(method: string, path: string, open: ReadonlySet<string>): boolean {
  if (open.has(`${method} ${path}`)) return true;
  if (path === '/admin' || path.startsWith('/admin/')) return true;
  // The VM page (src/ui/routes.ts) authenticates with its own session cookie too.
  if (path === '/ui' || path.startsWith('/ui/')) return true;
  return (method === 'GET' || method === 'HEAD') && (path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/'));
}

const INCOMING_ID_RE = /^[A-Za-z0-9._:-]{8,128}$/;

/** Accepts a sane incoming X-Request-Id (a proxy's), otherwise makes one; echoes it on every response. */
export function requestId(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const id = incoming && INCOMING_ID_RE.test(incoming) ? incoming : `req_${randomUUID().replaceAll('-', '')}`;
    c.set('requestId', id);
    c.set('logger', logger);
    c.set('caller', null);
    c.header('X-Request-Id', id);
    await next();
    // Responses built outside the context (errors, streams) still carry it.
    if (!c.res.headers.has('X-Request-Id')) c.res.headers.set('X-Request-Id', id);
  };
}

/** One JSON line per request; never the Authorization header, never bodies. */
export function accessLog(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const start = performance.now();
    await next();
    const status = c.res.status;
    const line = {
      method: c.req.method,
      path: c.req.path,
      status,
      ms: Math.round((performance.now() - start) * 10) / 10,
      request_id: c.get('requestId'),
      token: c.get('caller')?.name ?? null,
    };
    if (status >= 500) logger.warn(line, 'request');
    else logger.info(line, 'request');
  };
}

/** A configured token that matched, with its SHA-256 (hex): what sessions store and the auth throttle remembers. */
export interface Identified {
  caller: Caller;
  digest: string;
}

function callerOf(t: TokenConfig): Caller {
  return { name: t.name, scopes: t.scopes, owner: t.owner ?? null, rateLimit: t.rate_limit ?? null };
}

/** The token of the `Authorization` header (the check shared with the worker's /metrics: packages/contracts/src/auth.ts). */
export function identify(config: Config, header: string | undefined): Identified | null {
  const found = identifyToken(config, header);
  return found ? { caller: callerOf(found.token), digest: found.digest } : null;
}

export function authenticate(config: Config, header: string | undefined): Caller | null {
  return identify(config, header)?.caller ?? null;
}

/** The configured token whose SHA-256 (hex) is `digest`, if any (a dashboard session's token). */
export function callerByDigest(config: Config, digest: string): Caller | null {
  const t = tokenByDigest(config, digest);
  return t ? callerOf(t) : null;
}

export function hasScope(caller: Caller, needed: Exclude<Scope, 'admin'>): boolean {
  return scopesAllow(caller.scopes, needed);
}

/** Every route but the open ones (and those of `withoutToken`) needs a token; GETs need `read`, everything else `write`. */
export function auth(config: Config, throttle: AuthThrottle, open: ReadonlySet<string>): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (withoutToken(c.req.method, c.req.path, open)) return next();
    const header = c.req.header('authorization');
    const found = identify(config, header);
    // A request without any token guesses nothing: it is neither counted nor throttled.
    const wait = header ? await throttle.attempt(c, found?.digest ?? null) : null;
    if (wait !== null) throw throttled(wait);
    if (!found) throw new ApiError('UNAUTHORIZED', 'Invalid or missing API Token');
    const caller = found.caller;
    c.set('caller', caller);
    const needed = c.req.method === 'GET' || c.req.method === 'HEAD' ? 'read' : 'write';
    if (!hasScope(caller, needed)) throw new ApiError('FORBIDDEN', `token '${caller.name}' lacks the '${needed}' scope`);
    return next();
  };
}

/** The 429 of a throttled client address (src/throttle.ts). */
export function throttled(retryAfterSeconds: number): ApiError {
  return new ApiError('RATE_LIMITED', 'too many failed authentication attempts from this address, try again later', {
    headers: { 'Retry-After': String(retryAfterSeconds) },
  });
}

/**
 * BullMQ waits (without a bound) for a connection that is not ready; answering 503 at once is what a
 * client can act on. ioredis itself fails commands fast (no offline queue, one retry).
 */
export function requireRedis(redis: Redis): MiddlewareHandler<AppEnv> {
  return async (_c, next) => {
    if (redis.status !== 'ready') throw new ApiError('UNAVAILABLE', 'the job store (Redis) is unavailable, try again later');
    return next();
  };
}
