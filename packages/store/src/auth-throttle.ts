/**
 * Failed authentications per client address, counted in Redis so every API process shares them (the
 * policy, and finding the client's address, stay with the API's middleware). Past `maxFailures` wrong
 * tokens within the window the address is throttled, a right token too, unless that token has
 * authenticated from the address within the window (it is exempt there).
 *
 * @example
 * const waitMs = await new AuthThrottle(redis, prefix, { windowMs: 60_000, maxFailures: 10 }).attempt('10.0.0.7', null);
 */
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { runScript } from './scripts.ts';

export class AuthThrottle {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly o: { windowMs: number; maxFailures: number },
  ) {}

  /**
   * Counts one attempt from `address`: `tokenDigest` is the SHA-256 (hex) of the token that matched, or
   * null for a wrong one. Returns 0 when the attempt may go on, else the milliseconds until the address
   * may try again. While Redis is not connected nothing is counted (0): the routes that need Redis
   * answer 503 anyway, and the ones that do not keep working.
   */
  async attempt(address: string, tokenDigest: string | null): Promise<number> {
    if (this.redis.status !== 'ready') return 0;
    const ks = [keys.authFailures(this.prefix, address), ...(tokenDigest ? [keys.authOk(this.prefix, address, tokenDigest)] : [])];
    return runScript<number>(this.redis, 'authAttempt', ks, [this.o.windowMs, this.o.maxFailures]);
  }
}
