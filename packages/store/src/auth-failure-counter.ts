/**
 * Failed authentications per client address, counted in Redis so every API process shares them (the
 * policy, and finding the client's address, stay with the API's middleware). Past `maxFailures` wrong
 * tokens within the window the address is throttled, a right token too, unless that token has
 * authenticated from the address within the window (it is exempt there). The "address" is whatever the
 * caller counts a client by, the same for failures and exemptions: the API passes an IPv4 address or an
 * IPv6 prefix (`2001:db8:1:2::/64`, apps/api/src/client-key.ts).
 *
 * @example
 * const waitMs = await new AuthFailureCounter(redis, prefix, { windowMs: 60_000, maxFailures: 10 }).attempt('10.0.0.7', null);
 */
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { runScript } from './scripts.ts';

/** How often a right token's exemption this process holds is renewed in Redis (in the background). */
export const EXEMPTION_RENEW_MS = 1000;
/** Exemptions remembered per process before the expired ones are dropped. */
const MAX_REMEMBERED = 10_000;

export class AuthFailureCounter {
  /**
   * Right tokens this process saw exempt, `address digest` → when Redis last confirmed it. While that is
   * well within the window the exemption is surely still in Redis, so the attempt goes on without a round
   * trip (the request path of every authenticated call); it is renewed in the background at most every
   * EXEMPTION_RENEW_MS, so it still lasts a window past the token's last use, give or take that.
   */
  private readonly exempt = new Map<string, number>();

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
    if (tokenDigest === null) return this.ask(address, null);
    const id = `${address} ${tokenDigest}`;
    const now = Date.now();
    const confirmed = this.exempt.get(id);
    if (confirmed !== undefined && now - confirmed < this.o.windowMs - EXEMPTION_RENEW_MS) {
      if (now - confirmed >= EXEMPTION_RENEW_MS) {
        this.exempt.set(id, now);
        this.ask(address, tokenDigest).then(
          (wait) => {
            if (wait !== 0) this.exempt.delete(id);
          },
          () => this.exempt.delete(id),
        );
      }
      return 0;
    }
    const wait = await this.ask(address, tokenDigest);
    if (wait === 0) this.remember(id, now);
    else this.exempt.delete(id);
    return wait;
  }

  private ask(address: string, tokenDigest: string | null): Promise<number> {
    const ks = [keys.authFailures(this.prefix, address), ...(tokenDigest ? [keys.authOk(this.prefix, address, tokenDigest)] : [])];
    return runScript<number>(this.redis, 'authAttempt', ks, [this.o.windowMs, this.o.maxFailures]);
  }

  private remember(id: string, at: number): void {
    if (this.exempt.size >= MAX_REMEMBERED) {
      for (const [k, t] of this.exempt) if (at - t >= this.o.windowMs - EXEMPTION_RENEW_MS) this.exempt.delete(k);
      if (this.exempt.size >= MAX_REMEMBERED) this.exempt.clear();
    }
    this.exempt.set(id, at);
  }
}
