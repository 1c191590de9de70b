/**
 * Client addresses as the failed-authentication throttle counts them (src/throttle.ts). An IPv4 client
 * is its address; an IPv6 client is its network prefix (`auth_throttle.ipv6_prefix_length`, 64 by
 * default): a single subscriber is normally given a whole /64 (often a /56 or /48), so counting per /128
 * would let one client rotate through 2^64 addresses and never be throttled.
 *
 * @example
 * throttleKey('2001:db8:1:2:aaaa::1', 64); // '2001:db8:1:2::/64'
 * throttleKey('::ffff:10.0.0.1', 64); // '10.0.0.1'
 */
import { isIP } from 'node:net';

/** An IPv6 address without its zone (`fe80::1%eth0`), as 8 groups of 16 bits; null when it is not one. */
function ipv6Groups(address: string): number[] | null {
  const bare = address.split('%', 1)[0] ?? '';
  if (isIP(bare) !== 6) return null;
  let text = bare.toLowerCase();
  // An IPv4 tail (`::ffff:10.0.0.1`, `64:ff9b::192.0.2.1`) is the last two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:0:0/96`, in any spelling) stands for, else null. */
function mappedIpv4(groups: number[]): string | null {
  if (groups.slice(0, 5).some((g) => g !== 0) || groups[5] !== 0xffff) return null;
  const [hi = 0, lo = 0] = groups.slice(6);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** RFC 5952's text: lowercase, no leading zeros, the longest run of two or more zero groups (the first of equals) as `::`. */
function formatIpv6(groups: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/**
 * The address as the client's own: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, a dual-stack
 * socket's IPv4 client, or `::ffff:a00:1`) as the IPv4 address, so both forms are one client and match
 * IPv4 `trusted_proxies`; anything else as given (logs show the client's address as it came).
 */
export function normalizeAddress(address: string): string {
  const groups = ipv6Groups(address);
  return (groups && mappedIpv4(groups)) ?? address;
}

/**
 * The address one `X-Forwarded-For` entry names, as normalizeAddress gives it, or null when the entry is no
 * address. Proxies write an IPv6 address bare, in brackets, or in brackets with the port they were reached
 * from (`2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:443`), and an IPv4 one bare or with a port
 * (`1.2.3.4:5678`); RFC 7239's `Forwarded` spells them so, and some proxies (Azure's, IIS's ARR) copy that
 * into `X-Forwarded-For`. `unknown` and obfuscated names (`_hidden`) are no address.
 *
 * @example
 * forwardedAddress('[2001:db8::1]:443'); // '2001:db8::1'
 * forwardedAddress('1.2.3.4:5678'); // '1.2.3.4'
 */
export function forwardedAddress(entry: string): string | null {
  let text = entry.trim();
  // An RFC 7239 node may be quoted ("[2001:db8::1]:443").
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1);
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) {
    const inner = bracketed[1] ?? '';
    return isIP(inner.split('%', 1)[0] ?? '') === 6 ? normalizeAddress(inner) : null;
  }
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text);
  if (v4port) text = v4port[1] ?? '';
  const bare = text.split('%', 1)[0] ?? '';
  // A zone only on IPv6 (`fe80::1%eth0`); `1.2.3.4%x` is no address.
  if (isIP(bare) === 0 || (bare !== text && isIP(bare) !== 6)) return null;
  return normalizeAddress(text);
}

/**
 * What failed authentications are counted under, and right tokens exempted at: an IPv4 address (or an
 * IPv4-mapped IPv6 one) as itself; an IPv6 address as its first `ipv6PrefixLength` bits, zone dropped,
 * in RFC 5952 form with the length (`2001:db8:1:2::/64`); anything else (no socket) as given.
 */
export function throttleKey(address: string, ipv6PrefixLength: number): string {
  const groups = ipv6Groups(address);
  if (!groups) return address;
  const v4 = mappedIpv4(groups);
  if (v4) return v4;
  const masked = groups.map((g, i) => {
    const bits = Math.min(16, Math.max(0, ipv6PrefixLength - i * 16));
    return g & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${formatIpv6(masked)}/${ipv6PrefixLength}`;
}
