/**
 * Per-token request rate: a fixed window counted in Redis, so every API process shares the count.
 *
 * @example
 * const { count, resetMs } = await new RateLimiter(redis, prefix).hit('ci', 60_000);
 */
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { runScript } from './scripts.ts';

export interface RateWindow {
  /** Requests of the token in the current window, this one included. */
  count: number;
  /** Milliseconds until the window's counter expires. */
  resetMs: number;
}

export class RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Counts one request of `token` in the current window of `windowMs` (windows start at multiples of it since the epoch). */
  async hit(token: string, windowMs: number, now = Date.now()): Promise<RateWindow> {
    const window = Math.floor(now / windowMs);
    const [count, ttl] = await runScript<[number, number]>(this.redis, 'rateLimitHit', [keys.rateLimit(this.prefix, token, window)], [windowMs]);
    return { count, resetMs: ttl > 0 ? ttl : windowMs };
  }
}
