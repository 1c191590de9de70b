/** A per-token request rate: a fixed window counted in Redis, so every API process shares it. */
import { RateLimiter } from '@provisioner/store';
import type { MiddlewareHandler } from 'hono';
import type { Redis } from 'ioredis';
import type { AppEnv } from './context.ts';
import { ApiError } from './errors.ts';

/**
 * Answers 429 with Retry-After once a token has used up `rate_limit.requests` in the current window of
 * `rate_limit.per_seconds`. Tokens without a rate limit are not counted.
 */
export function rateLimit(redis: Redis, prefix: string): MiddlewareHandler<AppEnv> {
  const limiter = new RateLimiter(redis, prefix);
  return async (c, next) => {
    const limit = c.get('caller')?.rateLimit;
    const name = c.get('caller')?.name;
    if (!limit || !name) return next();
    const windowMs = limit.per_seconds * 1000;
    const { count, resetMs } = await limiter.hit(name, windowMs);
    const resetS = Math.max(1, Math.ceil(resetMs / 1000));
    c.header('RateLimit-Limit', String(limit.requests));
    c.header('RateLimit-Remaining', String(Math.max(0, limit.requests - count)));
    c.header('RateLimit-Reset', String(resetS));
    if (count > limit.requests) {
      throw new ApiError('RATE_LIMITED', `rate limit of ${limit.requests} requests per ${limit.per_seconds} s exceeded`, {
        headers: { 'Retry-After': String(resetS) },
      });
    }
    return next();
  };
}
