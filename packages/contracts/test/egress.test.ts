/**
 * The egress allow-list (global unicast, plus what the operator allows), over every special-purpose
 * range of the IANA IPv4 and IPv6 registries.
 */
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { EgressRules, isGlobalUnicast, redactDestinations } from '../src/egress.ts';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

const none = new EgressRules({ allow_networks: [], allow_hosts: [] });
/** The local development configuration: loopback allowed. */
const local = new EgressRules({ allow_networks: ['127.0.0.0/8', '::1/128'], allow_hosts: [] });

describe('EgressRules.refusal: nothing allowed', () => {
  // Each row: an address in a special-purpose block (IANA registries, RFC 6890 and successors) and how it is named.
  it.each([
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /unspecified/],
    ['10.1.2.3', /10\.1\.2\.3 is a private address/],
    ['100.64.0.1', /CGNAT/],
    ['100.100.100.200', /cloud metadata/],
    ['127.0.0.1', /127\.0\.0\.1 is a loopback address/],
    ['127.255.255.254', /loopback/],
    ['169.254.10.1', /link-local/],
    ['169.254.169.254', /169\.254\.169\.254 is a cloud metadata address/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.0.0.8', /reserved/],
    ['192.0.2.1', /reserved/],
    ['192.31.196.1', /as112/],
    ['192.52.193.1', /amt/],
    ['192.88.99.1', /reserved/],
    ['192.168.122.1', /192\.168\.122\.1 is a private address/],
    ['192.175.48.1', /as112/],
    ['198.18.0.1', /reserved/],
    ['198.51.100.7', /reserved/],
    ['203.0.113.9', /reserved/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['240.0.0.1', /reserved/],
    ['255.255.255.255', /broadcast/],
    ['::', /:: is an unspecified/],
    ['::1', /::1 is a loopback address/],
    // IPv4-mapped: judged as the IPv4 address the kernel connects to.
    ['::ffff:127.0.0.1', /127\.0\.0\.1 is a loopback/],
    ['::ffff:a9fe:a9fe', /169\.254\.169\.254 is a cloud metadata/],
    ['::ffff:10.0.0.1', /10\.0\.0\.1 is a private/],
    // SIIT (RFC 6145, `::ffff:0:0:0/96`): what the hand-written table missed.
    ['::ffff:0:a9fe:a9fe', /::ffff:0:a9fe:a9fe is an IPv4-translated \(SIIT\) address of 169\.254\.169\.254/],
    ['::ffff:0:7f00:1', /SIIT.*127\.0\.0\.1/],
    ['::ffff:0:808:808', /SIIT.*8\.8\.8\.8/],
    // IPv4-compatible (deprecated, ::/96): not in 2000::/3.
    ['::a9fe:a9fe', /outside IPv6's global unicast space/],
    ['::127.0.0.1', /outside IPv6's global unicast space/],
    ['64:ff9b::a9fe:a9fe', /NAT64 address of 169\.254\.169\.254/],
    ['64:ff9b::808:808', /NAT64 address of 8\.8\.8\.8/],
    ['64:ff9b:1::1', /NAT64/],
    ['100::1', /discard/],
    ['2001::1', /Teredo/],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', /Teredo address of 192\.0\.2\.45/],
    ['2001:2::1', /benchmarking/],
    ['2001:3::1', /amt/],
    ['2001:4:112::1', /as112/],
    ['2001:10::1', /reserved|special-purpose/],
    ['2001:20::1', /orchid2/],
    ['2001:30::1', /droneRemoteIdProtocolEntityTags/],
    ['2001:db8::1', /reserved/],
    ['2002:a9fe:a9fe::1', /6to4 address of 169\.254\.169\.254/],
    ['2002:808:808::1', /6to4 address of 8\.8\.8\.8/],
    ['2620:4f:8000::1', /as112/],
    ['3fff::1', /reserved/],
    ['5f00::1', /segmentRouting/],
    ['4000::1', /outside IPv6's global unicast space/],
    ['fc00::1', /private \(unique local\)/],
    ['fd00:ec2::254', /cloud metadata/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['fec0::1', /site-local/],
    ['ff02::1', /multicast/],
    ['[ff05::2]', /multicast/],
  ])('%s is refused: %s', (ip, reason) => {
    expect(none.refusal(ip)).toMatch(reason);
    expect(isGlobalUnicast(ip)).toBe(false);
  });

  it('every special range ipaddr.js knows is refused (its first and last address alike)', () => {
    const ranges = [ipaddr.IPv4.prototype, ipaddr.IPv6.prototype].flatMap((p) =>
      Object.entries((p as unknown as { SpecialRanges: Record<string, Range | Range[]> }).SpecialRanges).flatMap(([name, r]) => {
        const list = Array.isArray(r[0]) ? (r as Range[]) : [r as Range];
        return list.map(([net, bits]) => ({ name, cidr: `${net.toString()}/${bits}` }));
      }),
    );
    expect(ranges.length).toBeGreaterThan(30);
    for (const { name, cidr } of ranges) {
      if (name === 'unicast') continue;
      const first = ipaddr.IPv4.isValidCIDR(cidr) ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
      const last = ipaddr.IPv4.isValidCIDR(cidr) ? ipaddr.IPv4.broadcastAddressFromCIDR(cidr) : ipaddr.IPv6.broadcastAddressFromCIDR(cidr);
      for (const a of [first, last]) expect(none.refusal(a.toString()), `${name} ${cidr} ${a.toString()}`).not.toBeNull();
    }
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '100.63.255.255',
    '100.128.0.1',
    '172.32.0.1',
    '192.169.0.1',
    '2606:4700::1111',
    '2a00:1450:4001::200e',
    '::ffff:8.8.8.8',
  ])('%s (global unicast) is reached', (ip) => {
    expect(none.refusal(ip)).toBeNull();
    expect(isGlobalUnicast(ip)).toBe(true);
  });

  it('refuses what is not an address', () => {
    expect(none.refusal('example.org')).toMatch(/not an IP address/);
    expect(isGlobalUnicast('example.org')).toBe(false);
  });
});

describe('EgressRules: what the operator allows', () => {
  it('an allowed network is reached; mapped addresses count as their IPv4 address; SIIT and 6to4 forms of it do not', () => {
    expect(local.refusal('127.0.0.1')).toBeNull();
    expect(local.refusal('127.9.9.9')).toBeNull();
    expect(local.refusal('::1')).toBeNull();
    expect(local.refusal('::ffff:127.0.0.1')).toBeNull();
    // A translated form goes through a translator or relay, not to our own loopback: not allowed by 127.0.0.0/8.
    expect(local.refusal('::ffff:0:7f00:1')).toMatch(/SIIT/);
    expect(local.refusal('64:ff9b::7f00:1')).toMatch(/NAT64/);
    expect(local.refusal('2002:7f00:1::1')).toMatch(/6to4/);
    expect(local.refusal('10.0.0.1')).toMatch(/private/);
    const mixed = new EgressRules({ allow_networks: ['10.20.0.0/16', 'fd00:1::/32', '::ffff:192.168.7.0/120'], allow_hosts: [] });
    expect(mixed.refusal('10.20.3.4')).toBeNull();
    expect(mixed.refusal('::ffff:10.20.3.4')).toBeNull();
    expect(mixed.refusal('10.21.0.1')).toMatch(/private/);
    expect(mixed.refusal('fd00:1::5')).toBeNull();
    expect(mixed.refusal('fd00:2::5')).toMatch(/unique local/);
    expect(mixed.refusal('192.168.7.9')).toBeNull();
    expect(mixed.refusal('192.168.8.9')).toMatch(/private/);
  });

  it("an allowed translation prefix (NAT64 on an IPv6-only host) reaches global IPv4 through it, not what the translator's side keeps private", () => {
    const nat64 = new EgressRules({ allow_networks: ['64:ff9b::/96'], allow_hosts: [] });
    expect(nat64.refusal('64:ff9b::808:808')).toBeNull();
    expect(nat64.refusal('64:ff9b::a9fe:a9fe')).toMatch(/64:ff9b::a9fe:a9fe leads to 169\.254\.169\.254, a cloud metadata address/);
    expect(nat64.refusal('64:ff9b::a00:1')).toMatch(/leads to 10\.0\.0\.1, a private address/);
    const withPrivate = new EgressRules({ allow_networks: ['64:ff9b::/96', '10.0.0.0/8'], allow_hosts: [] });
    expect(withPrivate.refusal('64:ff9b::a00:1')).toBeNull();
  });

  it('host names: allowed ones pass whatever they are, others wait for the connection', () => {
    const hosts = new EgressRules({ allow_networks: [], allow_hosts: ['Hooks.Internal', '10.9.9.9'] });
    expect(hosts.hostAllowed('hooks.internal.')).toBe(true);
    expect(hosts.literalRefusal('http://hooks.internal/x')).toBeNull();
    expect(hosts.literalRefusal('http://10.9.9.9/x')).toBeNull();
    expect(hosts.literalRefusal('http://example.org/x')).toBeNull();
    expect(hosts.literalRefusal('not a url')).toBeNull();
  });

  it('the configuration refuses allow_networks entries that are not CIDRs', () => {
    expect(() => new EgressRules({ allow_networks: ['example.org/24'], allow_hosts: [] })).toThrow(/CIDR/);
  });
});

describe('EgressRules.literalRefusal: IP literals in URLs, in every encoding the URL parser accepts', () => {
  it.each([
    ['http://169.254.169.254/latest/meta-data/', /refused: 169\.254\.169\.254 is a cloud metadata/],
    ['http://10.1.2.3/x', /refused: 10\.1\.2\.3 is a private/],
    ['http://[::ffff:0:a9fe:a9fe]/', /refused: .*SIIT.*169\.254\.169\.254/],
    ['http://[::ffff:169.254.169.254]/', /cloud metadata/],
    ['http://2852039166/', /169\.254\.169\.254 is a cloud metadata/],
    ['http://0xa9.0xfe.0xa9.0xfe/', /169\.254\.169\.254/],
    ['http://0251.0376.0251.0376/', /169\.254\.169\.254/],
    ['http://169.254.43518/', /169\.254\.169\.254/],
    ['https://[fe80::1]:8443/x', /link-local/],
    ['http://0/', /0\.0\.0\.0 is an unspecified/],
    ['http://[64:ff9b::a00:1]/', /NAT64/],
  ])('%s', (url, reason) => {
    expect(none.literalRefusal(url)).toMatch(reason);
  });

  it('global addresses and names pass', () => {
    for (const url of ['https://8.8.8.8/hook', 'https://[2606:4700::1111]/', 'https://hooks.example.org/x', 'http://localhost/']) {
      expect(none.literalRefusal(url), url).toBeNull();
    }
    expect(local.literalRefusal('http://127.0.0.1:8080/hook')).toBeNull();
    expect(local.literalRefusal('http://[::1]:8080/hook')).toBeNull();
  });
});

describe('redactDestinations: delivery errors without addresses or host names', () => {
  it.each([
    ['refused: 192.168.122.1 is a private address', 'refused: the destination is a private address'],
    ['refused: hooks.internal resolves to 10.0.0.1 is a private address', "refused: the destination's name resolves to a private address"],
    ['refused: a resolves to 10.0.0.1 is a private address', "refused: the destination's name resolves to a private address"],
    ['refused: ::ffff:0:a9fe:a9fe is an IPv4-translated (SIIT) address of 169.254.169.254', 'refused: the destination is an IPv4-translated (SIIT) address'],
    ['refused: 64:ff9b::a00:1 leads to 10.0.0.1, a private address', 'refused: the destination leads to a private address'],
    [
      "refused: ::7f00:1 is a reserved address (outside IPv6's global unicast space)",
      "refused: the destination is a reserved address (outside IPv6's global unicast space)",
    ],
    ['ECONNREFUSED: connect ECONNREFUSED 10.0.0.5:443', 'ECONNREFUSED: connect ECONNREFUSED [destination]:443'],
    ['ECONNREFUSED: connect ECONNREFUSED ::1:8080', 'ECONNREFUSED: connect ECONNREFUSED [destination]'],
    ['EHOSTUNREACH: connect EHOSTUNREACH [fe80::1%eth0]:8080', 'EHOSTUNREACH: connect EHOSTUNREACH [destination]:8080'],
    ['ENOTFOUND: getaddrinfo ENOTFOUND hooks.example.org', 'ENOTFOUND: getaddrinfo ENOTFOUND [destination]'],
    ['ENOTFOUND: receiver has no address', 'ENOTFOUND: [destination] has no address'],
    ['HTTP 503', 'HTTP 503'],
    ['HTTP 302 (redirects are not followed)', 'HTTP 302 (redirects are not followed)'],
    ['timeout after 10000 ms', 'timeout after 10000 ms'],
    ['HPE_INVALID_CONSTANT: Parse Error: Expected HTTP/1.1', 'HPE_INVALID_CONSTANT: Parse Error: Expected HTTP/1.1'],
    ['ECONNRESET: socket hang up', 'ECONNRESET: socket hang up'],
  ])('%s', (error, shown) => {
    expect(redactDestinations(error, ['receiver', 'a'])).toBe(shown);
  });
});
