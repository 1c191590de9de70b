/** The client key of the failed-authentication throttle: IPv4 per address, IPv6 per network prefix. */
import { describe, expect, it } from 'vitest';
import { forwardedAddress, normalizeAddress, throttleKey } from '../../src/client-key.ts';

describe('throttleKey', () => {
  it('keeps an IPv4 address as it is', () => {
    expect(throttleKey('203.0.113.7', 64)).toBe('203.0.113.7');
    expect(throttleKey('203.0.113.7', 128)).toBe('203.0.113.7');
    expect(throttleKey('203.0.113.8', 64)).not.toBe(throttleKey('203.0.113.7', 64));
  });

  it('counts an IPv4-mapped IPv6 address, in any spelling, as the IPv4 address', () => {
    for (const a of ['::ffff:203.0.113.7', '::FFFF:203.0.113.7', '0:0:0:0:0:ffff:203.0.113.7', '::ffff:cb00:7107', '0000::FFFF:CB00:7107']) {
      expect(throttleKey(a, 64)).toBe('203.0.113.7');
      expect(normalizeAddress(a)).toBe('203.0.113.7');
    }
    // Not mapped: IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96) addresses are IPv6 ones.
    expect(throttleKey('::203.0.113.7', 128)).toBe('::cb00:7107/128');
    expect(throttleKey('64:ff9b::203.0.113.7', 64)).toBe('64:ff9b::/64');
    expect(normalizeAddress('64:ff9b::203.0.113.7')).toBe('64:ff9b::203.0.113.7');
  });

  it('counts an IPv6 address by its /64, whatever its spelling', () => {
    const key = '2001:db8:1:2::/64';
    for (const a of [
      '2001:db8:1:2::1',
      '2001:db8:1:2::2',
      '2001:db8:1:2:ffff:ffff:ffff:ffff',
      '2001:0DB8:0001:0002:0000:0000:0000:0001',
      '2001:db8:1:2:a:b:c:d',
      '2001:db8:1:2:0:0:1.2.3.4',
      '2001:db8:1:2::%eth0',
      '2001:db8:1:2:1::%25eth0',
    ]) {
      expect(throttleKey(a, 64)).toBe(key);
    }
    expect(throttleKey('2001:db8:1:3::1', 64)).toBe('2001:db8:1:3::/64');
    expect(throttleKey('2001:db8:1:1:ffff:ffff:ffff:ffff', 64)).toBe('2001:db8:1:1::/64');
    expect(throttleKey('2001:db9:1:2::1', 64)).toBe('2001:db9:1:2::/64');
    // A zone is the link's name, not part of the address.
    expect(throttleKey('fe80::1%eth0', 64)).toBe('fe80::/64');
    expect(throttleKey('fe80::2%eth1', 64)).toBe('fe80::/64');
    expect(throttleKey('::1', 64)).toBe('::/64');
    expect(throttleKey('::', 64)).toBe('::/64');
  });

  it('takes the prefix length it is given, in RFC 5952 form', () => {
    expect(throttleKey('2001:db8:1:2:3:4:5:6', 128)).toBe('2001:db8:1:2:3:4:5:6/128');
    expect(throttleKey('2001:db8:0:0:1:0:0:1', 128)).toBe('2001:db8::1:0:0:1/128');
    expect(throttleKey('2001:db8:0:1:1:1:1:1', 128)).toBe('2001:db8:0:1:1:1:1:1/128');
    expect(throttleKey('2001:db8:1:2:3:4:5:6', 56)).toBe('2001:db8:1::/56');
    expect(throttleKey('2001:db8:1:2ff:3:4:5:6', 56)).toBe('2001:db8:1:200::/56');
    expect(throttleKey('2001:db8:1:2ff:3:4:5:6', 48)).toBe('2001:db8:1::/48');
    expect(throttleKey('2001:db8:abcd:2ff::', 36)).toBe('2001:db8:a000::/36');
    expect(throttleKey('2001:db8:1:2:3:4:5:6', 32)).toBe('2001:db8::/32');
    expect(throttleKey('2001:db8:1:2:ffff::', 65)).toBe('2001:db8:1:2:8000::/65');
  });

  it('leaves what is not an address (no socket) as it is', () => {
    expect(throttleKey('unknown', 64)).toBe('unknown');
    expect(throttleKey('[2001:db8::1]', 64)).toBe('[2001:db8::1]');
    expect(normalizeAddress('unknown')).toBe('unknown');
    expect(normalizeAddress('2001:db8:1:2::1')).toBe('2001:db8:1:2::1');
    expect(normalizeAddress('203.0.113.7')).toBe('203.0.113.7');
  });
});

describe('forwardedAddress: one X-Forwarded-For entry as proxies write it', () => {
  it('takes an address bare, in brackets, with a port, or quoted as RFC 7239 writes it', () => {
    const cases: Array<[string, string]> = [
      ['2001:db8::1', '2001:db8::1'],
      ['[2001:db8::1]', '2001:db8::1'],
      ['[2001:db8::1]:443', '2001:db8::1'],
      ['"[2001:db8::1]:443"', '2001:db8::1'],
      [' [2001:DB8::1]:8443 ', '2001:DB8::1'],
      ['1.2.3.4', '1.2.3.4'],
      ['1.2.3.4:5678', '1.2.3.4'],
      ['"1.2.3.4:5678"', '1.2.3.4'],
      ['[::ffff:10.0.0.1]:80', '10.0.0.1'],
      ['::ffff:10.0.0.1', '10.0.0.1'],
      ['[fe80::1%eth0]:22', 'fe80::1%eth0'],
      ['fe80::1%eth0', 'fe80::1%eth0'],
    ];
    for (const [entry, address] of cases) expect(forwardedAddress(entry), entry).toBe(address);
  });

  it('is null for what names no address', () => {
    for (const entry of [
      '',
      'unknown',
      '_hidden',
      'proxy.example',
      '[1.2.3.4]',
      '[2001:db8::1',
      '2001:db8::1]:443',
      '1.2.3.4:',
      '1.2.3.4:x',
      '1.2.3.4:123456',
      '1.2.3.4%eth0',
      '[2001:db8::1]:443:1',
      '300.1.1.1:80',
    ]) {
      expect(forwardedAddress(entry), entry).toBeNull();
    }
  });
});
