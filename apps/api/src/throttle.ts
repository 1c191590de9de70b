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
import { type Config, keys } from '@provisioner/contracts';
import type { Context } from 'hono';
import type { Redis } from 'ioredis';
import type { AppEnv } from './context.ts';

// KEYS[1]: the address's failure count; KEYS[2] (after a right token only): its exemption.
// Returns 0 to let the attempt go on, or the milliseconds until the address may try again.
const ATTEMPT = `local window = tonumber(ARGV[1])
if KEYS[2] and redis.call('PEXPIRE', KEYS[2], window) == 1 then return 0 end
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[2]) then
  local t = redis.call('PTTL', KEYS[1])
  if t <= 0 then t = window end
  return t
end
if KEYS[2] then
  redis.call('SET', KEYS[2], '1', 'PX', window)
elseif redis.call('INCR', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], window)
end
return 0`;

/** `::ffff:10.0.0.1` (an IPv4 client of a dual-stack socket) as `10.0.0.1`, so both forms count as one address. */
function normalize(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

export class AuthThrottle {
  private readonly proxies = new BlockList();
  private readonly hasProxies: boolean;
  private readonly windowMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly config: Config,
  ) {
    for (const cidr of config.trusted_proxies) {
      const [net = '', bits = ''] = cidr.split('/');
      this.proxies.addSubnet(net, Number(bits), isIP(net) === 6 ? 'ipv6' : 'ipv4');
    }
    this.hasProxies = config.trusted_proxies.length > 0;
    this.windowMs = config.auth_throttle.window_seconds * 1000;
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
    if (this.redis.status !== 'ready') return null;
    const p = this.config.queue_prefix;
    const address = this.clientAddress(c);
    const ks = [keys.authFailures(p, address), ...(tokenDigest ? [keys.authOk(p, address, tokenDigest)] : [])];
    const waitMs = (await this.redis.eval(ATTEMPT, ks.length, ...ks, String(this.windowMs), String(this.config.auth_throttle.max_failures))) as number;
    if (waitMs <= 0) return null;
    c.get('logger').warn({ request_id: c.get('requestId'), client: address }, 'authentication throttled: too many failed attempts from this address');
    return Math.max(1, Math.ceil(waitMs / 1000));
  }
}
