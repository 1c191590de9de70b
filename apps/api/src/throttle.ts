/**
 * Throttling of failed authentication per client, counted in Redis so every API process shares it. A
 * client is its IPv4 address, or its IPv6 network (`auth_throttle.ipv6_prefix_length`, a /64 by default:
 * one subscriber holds at least that many addresses, src/client-key.ts). Past `auth_throttle.max_failures`
 * wrong tokens within `window_seconds`, every attempt from the client is answered 429 with Retry-After,
 * the right token's too: were a right token let through, the 429/200 difference would keep telling a
 * guesser when a guess is right. A token that has authenticated from the client within the window is
 * exempt there, so a client that holds a good token keeps working while someone beside it (same NAT,
 * same proxy, same /64) guesses.
 */
import { BlockList, isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Config } from '@provisioner/contracts';
import { AuthFailureCounter } from '@provisioner/store';
import type { Context } from 'hono';
import type { Redis } from 'ioredis';
import { forwardedAddress, normalizeAddress as normalize, throttleKey } from './client-key.ts';
import type { AppEnv } from './context.ts';

export class AuthThrottle {
  private readonly proxies = new BlockList();
  private readonly hasProxies: boolean;
  private readonly counts: AuthFailureCounter;
  private readonly ipv6PrefixLength: number;

  constructor(redis: Redis, config: Config) {
    for (const cidr of config.trusted_proxies) {
      const [net = '', bits = ''] = cidr.split('/');
      this.proxies.addSubnet(net, Number(bits), isIP(net) === 6 ? 'ipv6' : 'ipv4');
    }
    this.hasProxies = config.trusted_proxies.length > 0;
    this.ipv6PrefixLength = config.auth_throttle.ipv6_prefix_length;
    this.counts = new AuthFailureCounter(redis, config.queue_prefix, {
      windowMs: config.auth_throttle.window_seconds * 1000,
      maxFailures: config.auth_throttle.max_failures,
    });
  }

  private trusted(address: string): boolean {
    const v = isIP(address);
    return v !== 0 && this.proxies.check(address, v === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * The client's address: the socket's, or, when the socket is a trusted proxy, the nearest address in
   * X-Forwarded-For that is not one (each proxy appends the address it was reached from, so the entries
   * left of the trusted ones are whatever the client chose to send and are not believed).
   */
  clientAddress(c: Context<AppEnv>): string {
    let address: string;
    try {
      address = normalize(getConnInfo(c).remote.address ?? 'unknown');
    } catch {
      // Not served by @hono/node-server (app.request() in a test): no socket to ask.
      return 'unknown';
    }
    if (!this.hasProxies || !this.trusted(address)) return address;
    // Each entry as proxies write it: bare, `[v6]`, `[v6]:port` or `v4:port` (client-key.ts forwardedAddress).
    const hops = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean)
      .map(forwardedAddress);
    for (const hop of hops.reverse()) {
      if (hop === null) break;
      address = hop;
      if (!this.trusted(hop)) break;
    }
    return address;
  }

  /**
   * Counts one authentication attempt from the request's client: `tokenDigest` is the SHA-256 (hex) of
   * the token that matched, or null for a wrong one. Returns the seconds to put in Retry-After when the
   * client is throttled (the attempt must then be refused, right token or not), else null. While Redis
   * is down nothing is counted: the routes that need Redis answer 503 anyway.
   */
  async attempt(c: Context<AppEnv>, tokenDigest: string | null): Promise<number | null> {
    const address = this.clientAddress(c);
    // Failures and exemptions alike are the client's network's (an IPv6 /64), not the one address's.
    const key = throttleKey(address, this.ipv6PrefixLength);
    const waitMs = await this.counts.attempt(key, tokenDigest);
    if (waitMs <= 0) return null;
    c.get('logger').warn(
      { request_id: c.get('requestId'), client: address, ...(key !== address ? { throttle_key: key } : {}) },
      'authentication throttled: too many failed attempts from this address',
    );
    return Math.max(1, Math.ceil(waitMs / 1000));
  }
}
