/**
 * The listing with its guest sections (sh/list-domains.sh with guests, parse.ts parseListing): the domains'
 * part as the listing prints it, followed by guest sections captured from the real guest
 * (fixtures/guest-status-*.txt, boundary f×32).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { listDomainsArgv } from '../src/commands.ts';
import { InvalidArgumentError, ParseError } from '../src/errors.ts';
import { parseDomainList, parseListing } from '../src/parse.ts';

const B = 'f'.repeat(32);
const URI = 'qemu:///system';
const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const VM = 'guest-0b989315';
const MAC = '52:54:00:5d:61:3e';

const domainXml = (name: string, uuid: string, mac: string | null) => `<domain type='qemu' id='4'>
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <memory unit='KiB'>262144</memory>
  <vcpu placement='static'>1</vcpu>
  <devices>
    ${mac ? `<interface type='network'><mac address='${mac}'/><source network='default'/></interface>` : ''}
  </devices>
</domain>`;

/** The domains' part of a listing: one lease file (the guest's IPv4 and a second, IPv6 lease), two domains. */
const domainsPart = [
  `@@${B} LEASEFILE`,
  JSON.stringify([
    { 'ip-address': '192.168.122.192', 'mac-address': MAC, hostname: VM, 'expiry-time': 1767225600 },
    { 'ip-address': 'fd00::5', 'mac-address': MAC.toUpperCase(), 'expiry-time': 1767225600 },
  ]),
  `@@${B} DOMAINS`,
  `@@${B} DOMAIN 0b989315-0000-4000-8000-000000000001`,
  domainXml(VM, '0b989315-0000-4000-8000-000000000001', MAC),
  `@@${B} STATE`,
  'running',
  `@@${B} DOMAIN 0b989315-0000-4000-8000-000000000002`,
  domainXml('no-nic', '0b989315-0000-4000-8000-000000000002', null),
  `@@${B} STATE`,
  'shut off',
].join('\n');

describe('parseListing', () => {
  it('reads the domains with their lease addresses and the guest sections after them', () => {
    // The captured guest sections end with their own DONE, as the listing's do.
    const out = `${domainsPart}\n${fixture('guest-status-connected-done.txt')}`;
    const { domains, guests } = parseListing(out, B);
    const vm = domains.find((d) => d.name === VM);
    expect(vm?.ip).toBe('192.168.122.192');
    expect(vm?.addresses).toEqual([
      { ip: '192.168.122.192', family: 'ipv4', mac: MAC, source: 'lease' },
      { ip: 'fd00::5', family: 'ipv6', mac: MAC, source: 'lease' },
    ]);
    expect(domains.find((d) => d.name === 'no-nic')).toMatchObject({ state: 'shut off', ip: null, addresses: [] });
    expect(guests.get(VM)).toMatchObject({ state: 'running', agent: 'connected', cloud_init: 'done' });
    expect(guests.get(VM)?.addresses).toContainEqual({ ip: '192.168.122.192', family: 'ipv4', mac: MAC, source: 'agent' });
  });

  it('without guest sections is the plain listing', () => {
    const out = `${domainsPart}\n@@${B} DONE\n`;
    const { domains, guests } = parseListing(out, B);
    expect(domains).toEqual(parseDomainList(out, B));
    expect(guests.size).toBe(0);
  });

  it('refuses a listing cut off in its guest part (no DONE)', () => {
    const guest = fixture('guest-status-connected-done.txt').replace(`@@${B} DONE`, '');
    expect(() => parseListing(`${domainsPart}\n${guest}`, B)).toThrow(ParseError);
  });
});

describe('listDomainsArgv with guests', () => {
  it('passes the timeout and the VMs known ready after the boundary, to the same script', () => {
    const plain = listDomainsArgv(URI, B);
    const a = listDomainsArgv(URI, B, { skipAgent: ['amber-otter', 'b2'], agentTimeoutS: 2 });
    expect(a[2]).toBe(plain[2]);
    // The disks directory (empty: none, so no FILES section) comes before the timeout.
    expect(plain.slice(3)).toEqual(['list-domains', URI, B, '', '0']);
    expect(a.slice(3)).toEqual(['list-domains', URI, B, '', '2', 'amber-otter', 'b2']);
    expect(listDomainsArgv(URI, B, undefined, '/srv/disks').slice(3)).toEqual(['list-domains', URI, B, '/srv/disks', '0']);
    expect(() => listDomainsArgv(URI, B, undefined, '../disks')).toThrow();
    // The guest part is guest-status.sh's own (guests.sh) (one script text for both), every agent call within the timeout.
    expect(a[2]).toContain('qemu-agent-command --timeout "$t"');
  });

  it.each([
    () => listDomainsArgv(URI, B, { skipAgent: ['$(id)'], agentTimeoutS: 2 }),
    () => listDomainsArgv(URI, B, { skipAgent: ['--all'], agentTimeoutS: 2 }),
    () => listDomainsArgv(URI, B, { skipAgent: [], agentTimeoutS: 0 }),
    () => listDomainsArgv(URI, B, { skipAgent: [], agentTimeoutS: 61 }),
  ])('rejects bad input (%#)', (f) => {
    expect(f).toThrow(InvalidArgumentError);
  });
});
