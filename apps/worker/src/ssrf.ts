/**
 * Where webhook deliveries may connect. The address is checked when connecting (in the socket's DNS
 * lookup, or before connecting for an IP literal), so a name that resolves to a public address when
 * submitted and to 127.0.0.1 later (DNS rebinding) is refused all the same. Only global unicast is
 * reached, and what the operator allows (networks, host names): the classification is contracts'
 * `EgressRules` (on `ipaddr.js`), the same the API refuses IP literals with at registration and submit.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { type EgressPolicy, EgressRules } from '@provisioner/contracts';

export type { EgressPolicy };

export class SsrfRefused extends Error {
  override readonly name = 'SsrfRefused';
  readonly code = 'SSRF_REFUSED';
}

/** Decides, per address and per host name, whether a delivery may connect; resolves names through the guard. */
export class EgressGuard {
  private readonly rules: EgressRules;

  constructor(policy: EgressPolicy) {
    this.rules = new EgressRules(policy);
  }

  hostAllowed(hostname: string): boolean {
    return this.rules.hostAllowed(hostname);
  }

  /** Why the address may not be reached (null when it may). */
  refusal(ip: string): string | null {
    return this.rules.refusal(ip);
  }

  /**
   * A socket `lookup` that resolves as usual, then refuses (before any connection) when any address
   * the name resolves to may not be reached.
   */
  lookup(): LookupFunction {
    return ((hostname: string, options: { all?: boolean; family?: number }, callback: (...a: unknown[]) => void) => {
      dnsLookup(hostname, { ...options, all: true }, (err, addrs) => {
        if (err) return callback(err);
        for (const a of addrs) {
          const why = this.refusal(a.address);
          if (why) return callback(new SsrfRefused(`refused: ${hostname} resolves to ${why}`));
        }
        const first = addrs[0];
        if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }));
        if (options.all) return callback(null, addrs);
        return callback(null, first.address, first.family);
      });
    }) as unknown as LookupFunction;
  }

  /**
   * Checks a URL's host before connecting: an IP literal (in whatever encoding the URL parser
   * normalised it from) is judged here; a name is judged by `lookup` when the socket resolves it.
   * Returns a refusal or null.
   */
  precheck(url: URL): string | null {
    return this.rules.literalRefusal(url);
  }
}
