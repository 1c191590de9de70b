/**
 * Where webhook deliveries may go: an allow-list of global unicast addresses, plus the networks and host
 * names the operator allows (`webhooks.allow_networks`, `webhooks.allow_hosts`). The API refuses a URL
 * whose host is an IP literal outside it when it is registered or submitted (422); the worker's delivery
 * guard judges every address a name resolves to when it connects. Both ask this one module.
 *
 * Address classes come from `ipaddr.js` (its `range()` names every IANA special-purpose block and answers
 * `unicast` for the rest), not from a table of our own: a hand-written table missed SIIT once. Kept out
 * of `webhook-url.ts` because that file is bundled into the browser client with zod only.
 *
 * @example
 * const rules = new EgressRules({ allow_networks: ['127.0.0.0/8'], allow_hosts: [] });
 * rules.refusal('169.254.169.254'); // '169.254.169.254 is a cloud metadata address'
 * rules.literalRefusal('http://[::ffff:0:a9fe:a9fe]/'); // '::ffff:0:a9fe:a9fe is an IPv4-translated (SIIT) address of 169.254.169.254'
 */
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

export interface EgressPolicy {
  /** CIDRs deliveries may reach although they are not global unicast (private, loopback, …). */
  allow_networks: readonly string[];
  /** Host names deliveries may reach whatever they resolve to. */
  allow_hosts: readonly string[];
}

/** Cloud instance metadata services: named in refusals because they are what an SSRF is usually after. */
const METADATA = new Set(['169.254.169.254', '100.100.100.200', 'fd00:ec2::254']);

/** IPv6's global unicast space (RFC 4291 §2.4): `ipaddr.js` answers `unicast` for unassigned space too (`::a9fe:a9fe`, `4000::1`). */
const GLOBAL_V6 = ipaddr.parseCIDR('2000::/3');

/** How a refusal names each `range()` of `ipaddr.js`; a range not listed is named by its `ipaddr.js` name. */
const RANGE_NAMES: Record<string, string> = {
  unspecified: 'an unspecified ("this network") address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  carrierGradeNat: 'a shared (CGNAT) address',
  private: 'a private address',
  uniqueLocal: 'a private (unique local) address',
  reserved: 'a reserved address',
  deprecatedSiteLocal: 'a reserved (site-local) address',
  benchmarking: 'a reserved (benchmarking) address',
  discard: 'a reserved (discard-only) address',
  rfc6145: 'an IPv4-translated (SIIT) address',
  rfc6052: 'a NAT64 address',
  '6to4': 'a 6to4 address',
  teredo: 'a Teredo address',
  unicast: "a reserved address (outside IPv6's global unicast space)",
};

/**
 * The IPv4 address that an IPv6 address of a translation or tunnelling scheme leads to, where the scheme
 * fixes where it sits: SIIT (`::ffff:0:a.b.c.d`), NAT64's well-known prefix (`64:ff9b::a.b.c.d`), 6to4
 * (`2002:AABB:CCDD::/48`: the relay) and Teredo (the client's address, stored inverted). NAT64's local-use
 * prefix (`64:ff9b:1::/48`) places it by a prefix length the network chooses, so it cannot be read here.
 */
function embeddedIpv4(a: ipaddr.IPv6): ipaddr.IPv4 | null {
  const p = a.parts;
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 255, lo >> 8, lo & 255]);
  switch (a.range()) {
    case 'rfc6145':
      return v4(p[6] ?? 0, p[7] ?? 0);
    case 'rfc6052':
      return p[2] === 0 ? v4(p[6] ?? 0, p[7] ?? 0) : null;
    case '6to4':
      return v4(p[1] ?? 0, p[2] ?? 0);
    case 'teredo':
      return v4(~(p[6] ?? 0) & 0xffff, ~(p[7] ?? 0) & 0xffff);
    default:
      return null;
  }
}

function parseAddress(ip: string): Address | null {
  let bare = ip.replace(/^\[|\]$/g, '');
  // ipaddr.js reads a dotted tail as IPv4-mapped (`::127.0.0.1` as `::ffff:7f00:1`); to the kernel it is
  // `::7f00:1`. The URL parser writes it the kernel's way.
  if (bare.includes(':') && bare.includes('.') && !bare.includes('%')) {
    try {
      bare = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
    } catch {
      return null;
    }
  }
  if (!ipaddr.isValid(bare)) return null;
  const a = ipaddr.parse(bare);
  // An IPv4-mapped address is the IPv4 address itself to the kernel (a dual-stack socket connects over IPv4).
  return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address() : a;
}

/** Whether an address is global unicast: `ipaddr.js`'s `unicast`, and for IPv6 inside 2000::/3. */
export function isGlobalUnicast(ip: string): boolean {
  const a = parseAddress(ip);
  return a !== null && globalUnicast(a);
}

function globalUnicast(a: Address): boolean {
  if (a.range() !== 'unicast') return false;
  return a.kind() === 'ipv4' || (a as ipaddr.IPv6).match(GLOBAL_V6);
}

/** Why an address that is not global unicast is not: the words a refusal uses. */
function className(a: Address): string {
  const s = a.toString();
  if (METADATA.has(s)) return 'a cloud metadata address';
  const range = a.range();
  const name = RANGE_NAMES[range] ?? `a special-purpose address (${range})`;
  const inner = a.kind() === 'ipv6' ? embeddedIpv4(a as ipaddr.IPv6) : null;
  return inner ? `${name} of ${inner.toString()}` : name;
}

/** Decides, per address and per host name, whether a delivery may go there. Pure: no DNS, no sockets. */
export class EgressRules {
  private readonly networks: Array<[Address, number]>;
  private readonly hosts: Set<string>;

  constructor(policy: EgressPolicy) {
    this.networks = policy.allow_networks.map((c) => {
      if (!ipaddr.isValidCIDR(c)) throw new Error(`webhooks.allow_networks: ${c} is not a CIDR`);
      const [net, bits] = ipaddr.parseCIDR(c);
      // `::ffff:10.0.0.0/104` allows what `10.0.0.0/8` does: mapped addresses are judged as IPv4.
      if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) return [(net as ipaddr.IPv6).toIPv4Address(), bits - 96];
      return [net, bits];
    });
    this.hosts = new Set(policy.allow_hosts.map(normalHost));
  }

  /** The operator allows this host name (or IP literal) whatever it resolves to. */
  hostAllowed(hostname: string): boolean {
    return this.hosts.has(normalHost(hostname));
  }

  private allowed(a: Address): boolean {
    return this.networks.some(([net, bits]) => net.kind() === a.kind() && a.match(net, bits));
  }

  /**
   * Why a delivery may not connect to the address (null when it may): it must be global unicast or in an
   * allowed network. An allowed network of a translation scheme (say NAT64's `64:ff9b::/96` on an IPv6-only
   * host) still does not lead to an IPv4 address that is neither global nor allowed itself: the translator
   * would reach it on our behalf.
   */
  refusal(ip: string): string | null {
    const a = parseAddress(ip);
    if (!a) return `${ip} is not an IP address`;
    if (this.allowed(a)) {
      const inner = a.kind() === 'ipv6' ? embeddedIpv4(a as ipaddr.IPv6) : null;
      if (inner && !globalUnicast(inner) && !this.allowed(inner)) return `${a.toString()} leads to ${inner.toString()}, ${className(inner)}`;
      return null;
    }
    if (globalUnicast(a)) return null;
    return `${a.toString()} is ${className(a)}`;
  }

  /**
   * A URL whose host is an IP literal, judged now (`refused: …`), or null: a name, an allowed host or a
   * reachable address. Names are judged when the delivery connects (every address they resolve to then).
   */
  literalRefusal(url: string | URL): string | null {
    let u: URL;
    try {
      u = typeof url === 'string' ? new URL(url) : url;
    } catch {
      return null;
    }
    // WHATWG URL parsing has already turned `0x7f.1`, `2130706433` and `127.1` into `127.0.0.1`.
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (this.hostAllowed(host) || !ipaddr.isValid(host)) return null;
    const why = this.refusal(host);
    return why ? `refused: ${why}` : null;
  }
}

function normalHost(h: string): string {
  return h
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
}

/** What stands in for an address or host name in a delivery error shown to someone who may not see destinations. */
const HIDDEN = '[destination]';

/** Runs of hex digits, colons and dots with two colons or more: IPv6 candidates (checked before masking). */
const V6_RUN = /\[?[0-9A-Fa-f]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%[\w.-]+)?\]?/g;
const V4 = /\b\d{1,3}(?:\.\d{1,3}){3}\b/g;
/** Dotted host names (the last label starts with a letter, so `HTTP/1.1` or `1.5 s` are left alone); `*.` for certificate names. */
const DOTTED_NAME = /(?:\*\.)?\b(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*\.?/g;

function isV6Candidate(run: string): boolean {
  const bare = run.replace(/^\[|\]$/g, '');
  return ipaddr.IPv6.isValid(bare) || ipaddr.IPv6.isValid(bare.replace(/:\d+$/, ''));
}

/**
 * A delivery attempt's error as someone who may not see where deliveries go reads it: the refusal's reason
 * stays (`refused: the destination is a private address`), the addresses and host names go, whether the
 * guard wrote them (`refused: 10.0.0.5 is …`, `refused: hooks.internal resolves to …`) or the socket or TLS
 * layer did (`ECONNREFUSED: connect ECONNREFUSED 10.0.0.5:443`). `hosts` are names known to be destinations
 * (the delivery URL's host, which may have no dot).
 */
export function redactDestinations(error: string, hosts: readonly string[] = []): string {
  let out = error
    .replace(/^refused: \S+ resolves to \S+ is (.*)$/s, "refused: the destination's name resolves to $1")
    .replace(/^refused: \S+ resolves to \S+ leads to \S+, (.*)$/s, "refused: the destination's name resolves to an address that leads to $1")
    .replace(/^refused: \S+ leads to \S+, (.*)$/s, 'refused: the destination leads to $1')
    .replace(/^refused: \S+ is (?!not an IP)(.*)$/s, 'refused: the destination is $1')
    // "a NAT64 address of 169.254.169.254": the class is enough.
    .replace(/ (?:address) of \S+/g, ' address');
  // A refusal is rewritten whole above (what is left are the class's words); other errors quote the host as they like.
  const rewritten = out !== error;
  for (const h of rewritten ? [] : hosts.map((x) => x.replace(/^\[|\]$/g, '')).filter((x) => x.length > 0)) {
    // As a whole word only: a host named `a` must not take every `a` of the message with it.
    out = out.replace(new RegExp(`(?<![\\w.-])${h.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.?(?![\\w-])`, 'gi'), HIDDEN);
  }
  out = out.replace(V6_RUN, (run) => (isV6Candidate(run) ? HIDDEN : run));
  out = out.replace(V4, HIDDEN);
  return out.replace(DOTTED_NAME, HIDDEN);
}
