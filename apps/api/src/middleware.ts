/**
 * Cross-cutting middleware: request id, one log line per request, authentication with scopes, and a
 * fast 503 when Redis is down (instead of requests that hang until it comes back).
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Config, Scope } from '@provisioner/contracts';
import type { MiddlewareHandler } from 'hono';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AppEnv, Caller } from './context.ts';
import { ApiError } from './errors.ts';
import type { AuthThrottle } from './throttle.ts';

/** Routes anyone may call: liveness, readiness and the image names (the chat bot sends no token there). */
export const OPEN_ROUTES = new Set(['GET /health', 'GET /ready', 'GET /v1/get-images', 'HEAD /health', 'HEAD /ready', 'HEAD /v1/get-images']);

/**
 * Paths that do not take a token header: the API reference (`/openapi.json`, `/docs`: read-only
 * documentation of the routes, no configuration or data in it) and the dashboard (`/admin/…`), whose
 * routes authenticate with their own session cookie (src/admin/routes.ts).
 */
export function withoutToken(method: string, path: string): boolean {
  if (OPEN_ROUTES.has(`${method} ${path}`)) return true;
  if (path === '/admin' || path.startsWith('/admin/')) return true;
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

interface TokenDigest {
  caller: Caller;
  digest: Buffer;
  /** The same digest in hex: what sessions store and the auth throttle remembers instead of the token. */
  hex: string;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** A configured token that matched, with its digest. */
export interface Identified {
  caller: Caller;
  digest: string;
}

/**
 * `Authorization: <token>` (the replaced service's form) or `Authorization: Bearer <token>`.
 * Hashing first gives equal-length buffers for timingSafeEqual; every configured token is compared
 * (no early exit), so the time taken does not say which token, or how much of one, matched.
 */
export function identify(config: Config, header: string | undefined): Identified | null {
  if (!header) return null;
  const candidates = [sha256(header)];
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer?.[1]) candidates.push(sha256(bearer[1].trim()));
  let found: TokenDigest | null = null;
  for (const t of digests(config)) {
    for (const cand of candidates) {
      if (timingSafeEqual(cand, t.digest) && !found) found = t;
    }
  }
  return found ? { caller: found.caller, digest: found.hex } : null;
}

export function authenticate(config: Config, header: string | undefined): Caller | null {
  return identify(config, header)?.caller ?? null;
}

/** The configured token whose SHA-256 (hex) is `digest`, if any (a dashboard session's token). */
export function callerByDigest(config: Config, digest: string): Caller | null {
  if (!/^[a-f0-9]{64}$/.test(digest)) return null;
  const want = Buffer.from(digest, 'hex');
  let found: Caller | null = null;
  for (const t of digests(config)) if (timingSafeEqual(want, t.digest) && !found) found = t.caller;
  return found;
}

const digestCache = new WeakMap<Config, TokenDigest[]>();
function digests(config: Config): TokenDigest[] {
  let d = digestCache.get(config);
  if (!d) {
    d = config.tokens.map((t) => {
      const digest = sha256(t.token);
      return {
        caller: { name: t.name, scopes: t.scopes, owner: t.owner ?? null, rateLimit: t.rate_limit ?? null },
        digest,
        hex: digest.toString('hex'),
      };
    });
    digestCache.set(config, d);
  }
  return d;
}

export function hasScope(caller: Caller, needed: Exclude<Scope, 'admin'>): boolean {
  return caller.scopes.includes('admin') || caller.scopes.includes(needed);
}

/** Every route but the open ones (and those of `withoutToken`) needs a token; GETs need `read`, everything else `write`. */
export function auth(config: Config, throttle: AuthThrottle): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (withoutToken(c.req.method, c.req.path)) return next();
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
