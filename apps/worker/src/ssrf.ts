/**
 * Where webhook deliveries may connect. The address is checked when connecting (in the socket's DNS
 * lookup, or before connecting for an IP literal), so a name that resolves to a public address when
 * submitted and to 127.0.0.1 later (DNS rebinding) is refused all the same. Everything not global
 * unicast is refused unless the operator allows its network or host name.
 */
import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Special-purpose ranges (IANA registries), grouped by the reason a refusal gives. */
const DENIED: Array<{ reason: string; v4?: string[]; v6?: string[] }> = [
  { reason: 'a cloud metadata address', v4: ['169.254.169.254/32', '100.100.100.200/32'], v6: ['fd00:ec2::254/128'] },
  { reason: 'an unspecified ("this network") address', v4: ['0.0.0.0/8'], v6: ['::/128'] },
  { reason: 'a loopback address', v4: ['127.0.0.0/8'], v6: ['::1/128'] },
  { reason: 'a private address', v4: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'], v6: ['fc00::/7'] },
  { reason: 'a link-local address', v4: ['169.254.0.0/16'], v6: ['fe80::/10'] },
  { reason: 'a shared (CGNAT) address', v4: ['100.64.0.0/10'] },
  { reason: 'a multicast address', v4: ['224.0.0.0/4'], v6: ['ff00::/8'] },
  {
    reason: 'a reserved address',
    v4: ['192.0.0.0/24', '192.0.2.0/24', '192.88.99.0/24', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '240.0.0.0/4'],
    // IPv4-compatible, NAT64 and 6to4/Teredo (they embed IPv4 addresses), discard, documentation, site-local.
    v6: ['::/96', '64:ff9b::/96', '64:ff9b:1::/48', '100::/64', '2001::/23', '2001:db8::/32', '2002::/16', '3fff::/20', 'fec0::/10'],
  },
];

function subnets(list: BlockList, cidrs: string[], family: 'ipv4' | 'ipv6'): void {
  for (const c of cidrs) {
    const [net, bits] = c.split('/') as [string, string];
    list.addSubnet(net, Number(bits), family);
  }
}

const RULES = DENIED.map((d) => {
  const list = new BlockList();
  subnets(list, d.v4 ?? [], 'ipv4');
  subnets(list, d.v6 ?? [], 'ipv6');
  return { reason: d.reason, list };
});

/** Eight 16-bit groups of an IPv6 address (accepts `::` and a trailing dotted quad); null when it is not one. */
function hextets(ip: string): number[] | null {
  let s = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (quad?.[1]) {
    const b = quad[1].split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, -quad[1].length)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? (s.split('::') as [string, string]) : [s, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === null ? [] : Array(8 - h.length - t.length).fill('0');
  const all = [...h, ...fill, ...t].map((x) => Number.parseInt(x, 16));
  return all.length === 8 && all.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff) ? all : null;
}

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`) stands for; else the address itself. */
export function canonicalIp(ip: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const bare = ip.replace(/^\[|\]$/g, '');
  const v = isIP(bare);
  if (v === 4) return { address: bare, family: 'ipv4' };
  if (v !== 6) return null;
  const g = hextets(bare);
  if (g?.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const [a, b] = [g[6] as number, g[7] as number];
    return { address: `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`, family: 'ipv4' };
  }
  return { address: bare, family: 'ipv6' };
}

export interface EgressPolicy {
  allow_networks: readonly string[];
  allow_hosts: readonly string[];
}

export class SsrfRefused extends Error {
  override readonly name = 'SsrfRefused';
  readonly code = 'SSRF_REFUSED';
}

/** Decides, per address and per host name, whether a delivery may connect. */
export class EgressGuard {
  private readonly allowed = new BlockList();
  private readonly hosts: Set<string>;

  constructor(policy: EgressPolicy) {
    for (const c of policy.allow_networks) {
      const [net, bits] = c.split('/') as [string, string];
      const ip = canonicalIp(net);
      if (!ip) throw new Error(`webhooks.allow_networks: ${c} is not a CIDR`);
      this.allowed.addSubnet(ip.address, Number(bits), ip.family);
    }
    this.hosts = new Set(policy.allow_hosts.map((h) => h.toLowerCase().replace(/\.$/, '')));
  }

  hostAllowed(hostname: string): boolean {
    return this.hosts.has(
      hostname
        .toLowerCase()
        .replace(/^\[|\]$/g, '')
        .replace(/\.$/, ''),
    );
  }

  /** Why the address may not be reached (null when it may). */
  refusal(ip: string): string | null {
    const c = canonicalIp(ip);
    if (!c) return `${ip} is not an IP address`;
    if (this.allowed.check(c.address, c.family)) return null;
    for (const r of RULES) if (r.list.check(c.address, c.family)) return `${c.address} is ${r.reason}`;
    return null;
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
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (this.hostAllowed(host)) return null;
    if (isIP(host)) {
      const why = this.refusal(host);
      return why ? `refused: ${why}` : null;
    }
    return null;
  }
}
