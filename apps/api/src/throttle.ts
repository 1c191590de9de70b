/**
 * Throttling of failed authentication per client address, counted in Redis so every API process
 * shares it. Past `auth_throttle.max_failures` wrong tokens within `window_seconds`, every attempt from
 * the address is answered 429 with Retry-After, the right token's too: were a right token let through,
 * the 429/200 difference would keep telling a guesser when a guess is right. A token that has
 * authenticated from the address within the window is exempt there, so a client that holds a good
 * token keeps working while someone beside it (same NAT, same proxy) guesses.
 */
import { BlockList, isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Config } from '@provisioner/contracts';
import { AuthThrottle as FailureCounts } from '@provisioner/store';
import type { Context } from 'hono';
import type { Redis } from 'ioredis';
import type { AppEnv } from './context.ts';

/** `::ffff:10.0.0.1` (an IPv4 client of a dual-stack socket) as `10.0.0.1`, so both forms count as one address. */
function normalize(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

export class AuthThrottle {
  private readonly proxies = new BlockList();
  private readonly hasProxies: boolean;
  private readonly counts: FailureCounts;

  constructor(redis: Redis, config: Config) {
    for (const cidr of config.trusted_proxies) {
      const [net = '', bits = ''] = cidr.split('/');
      this.proxies.addSubnet(net, Number(bits), isIP(net) === 6 ? 'ipv6' : 'ipv4');
    }
    this.hasProxies = config.trusted_proxies.length > 0;
    this.counts = new FailureCounts(redis, config.queue_prefix, {
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
    const hops = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((h) => normalize(h.trim()))
      .filter(Boolean);
    for (const hop of hops.reverse()) {
      if (isIP(hop) === 0) break;
      address = hop;
      if (!this.trusted(hop)) break;
    }
    return address;
  }

  /**
   * Counts one authentication attempt from the request's client: `tokenDigest` is the SHA-256 (hex) of
   * the token that matched, or null for a wrong one. Returns the seconds to put in Retry-After when the
   * address is throttled (the attempt must then be refused, right token or not), else null. While Redis
   * is down nothing is counted: the routes that need Redis answer 503 anyway.
   */
  async attempt(c: Context<AppEnv>, tokenDigest: string | null): Promise<number | null> {
    const address = this.clientAddress(c);
    const waitMs = await this.counts.attempt(address, tokenDigest);
    if (waitMs <= 0) return null;
    c.get('logger').warn({ request_id: c.get('requestId'), client: address }, 'authentication throttled: too many failed attempts from this address');
    return Math.max(1, Math.ceil(waitMs / 1000));
  }
}
