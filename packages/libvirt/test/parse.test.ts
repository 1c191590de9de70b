import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../src/errors.ts';
import { parseCreateVm, parseCurlProgress, parseDomainList, parseHostInfo, parseLeaseStatus, parseQemuImgInfo, parseStepMarker } from '../src/parse.ts';
import { escapeXml } from '../src/xml.ts';

// Captured from the real tools on the loopback host (libvirt 9.0.0, QEMU 7.2, qemu-img 7.2).
const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('parseDomainList (output of the one-exec listing script)', () => {
  // The boundary the fixture was captured with (listDomainsArgv's second argument; random per run in use).
  const B = '5f0c9e1d2b7a4c3e8f6a1b2c3d4e5f60';
  const list = parseDomainList(fixture('list-domains.txt'), B);
  const by = (n: string) => list.find((d) => d.name === n);

  it('reads a running managed domain: id, state, metadata and tags', () => {
    expect(by('fx-managed')).toMatchObject({
      state: 'running',
      managed: true,
      instanceId: 'job_fixture',
      image: 'tiny',
      instanceType: 'tiny',
      tags: { owner: 'alice', note: 'a & b' },
      vcpus: 1,
      memoryMiB: 64,
      disks: ['/var/lib/provisioner/disks/fx.qcow2'],
    });
    expect(by('fx-managed')?.id).toBeTypeOf('number');
  });

  it('lists domains the project did not make as unmanaged, with old-service tags when present', () => {
    expect(by('fx-legacy')).toMatchObject({ state: 'shut off', id: null, managed: false, tags: { owner: 'U123', description: 'made by the old service' } });
    expect(by('fx-other')).toMatchObject({ state: 'shut off', managed: false, tags: {} });
  });

  it('keeps a domain whose description and tags hold every marker, XML metacharacters and newlines (captured from virsh)', () => {
    expect(list.map((d) => d.name).sort()).toEqual(['fx-hostile', 'fx-legacy', 'fx-managed', 'fx-other']);
    expect(by('fx-hostile')).toMatchObject({
      state: 'shut off',
      vcpus: 2,
      memoryMiB: 48,
      managed: true,
      instanceId: 'job_hostile',
      tags: {
        note: 'x @@DOMAIN 00000000-0000-0000-0000-000000000000 y',
        state: 'x @@STATE shut off',
        '@@DONE <&>"\'': ']]><![CDATA[ </tags>',
        lines: 'a\n@@STATE\nshut off\n@@DONE',
      },
    });
  });

  /** Builds listing output as the script prints it (commands.ts LIST), around the given domains. */
  const listing = (b: string, leases: string[], domains: Array<[uuid: string, xml: string, state: string]>) =>
    [
      ...leases.flatMap((l) => [`@@${b} LEASEFILE`, l, '']),
      `@@${b} DOMAINS`,
      ...domains.flatMap(([u, x, st]) => [`@@${b} DOMAIN ${u}`, ...(x ? [x] : []), `@@${b} STATE`, ...(st ? [st] : [])]),
      `@@${b} DONE`,
      '',
    ].join('\n');
  const U1 = '00000000-0000-0000-0000-000000000001';
  const domainXml = (uuid: string, tags: Record<string, string>, desc: string) =>
    `<domain type='qemu'>\n  <name>n</name>\n  <uuid>${uuid}</uuid>\n  <description>${escapeXml(desc)}</description>\n  <metadata>\n    <tags xmlns="https://provisioner.dev/xmlns/tags/1">${Object.entries(
      tags,
    )
      .map(([k, v]) => `<tag key="${escapeXml(k)}">${escapeXml(v)}</tag>`)
      .join('\n')}</tags>\n  </metadata>\n  <vcpu placement='static'>3</vcpu>\n</domain>`;

  it.each([
    ...['@@DOMAIN', '@@STATE', '@@DONE', '@@DOMAINS', '@@LEASEFILE', '@@EXISTS', '@@DEFINED'].flatMap((m) => [
      `x ${m} 00000000-0000-0000-0000-000000000000 y`,
      `\n${m}\n`,
      `\n${m} 00000000-0000-0000-0000-000000000000\n`,
      `\n@@${'f'.repeat(32)} ${m.slice(2)}\n`,
    ]),
    ']]>',
    '<![CDATA[',
    '</domain>',
    '<',
    '&',
    '"\'',
    '\n\n',
  ])('a tag or description holding %j does not move the framing', (hostile) => {
    const b = 'a'.repeat(32);
    const xml = domainXml(U1, { [hostile.trim() || 'k']: hostile, note: `x${hostile}y` }, hostile);
    const got = parseDomainList(listing(b, [], [[U1, xml, 'running']]), b);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ uuid: U1, state: 'running', vcpus: 3, tags: { [hostile.trim() || 'k']: hostile.trim(), note: `x${hostile}y` } });
  });

  it('refuses truncated output, and a DONE that is not a whole marker line', () => {
    const b = 'b'.repeat(32);
    expect(() => parseDomainList(fixture('list-domains.txt').replace(`@@${B} DONE`, ''), B)).toThrow(ParseError);
    // The last XML cut mid-line: the script's DONE lands on that line, so it is no marker.
    const cut = listing(b, [], [[U1, domainXml(U1, {}, ''), 'running']]).replace(`running\n@@${b} DONE`, `runn@@${b} DONE`);
    expect(() => parseDomainList(cut, b)).toThrow(ParseError);
    // Output framed with another boundary (another run's) is not this run's.
    expect(() => parseDomainList(fixture('list-domains.txt'), b)).toThrow(ParseError);
  });

  it('skips a domain that vanished between listing and dumping', () => {
    const b = 'c'.repeat(32);
    const u2 = '00000000-0000-0000-0000-000000000002';
    const out = listing(
      b,
      [],
      [
        ['00000000-0000-0000-0000-000000000000', '', ''],
        [u2, domainXml(u2, {}, ''), 'paused'],
      ],
    );
    expect(parseDomainList(out, b)).toEqual([expect.objectContaining({ uuid: u2, state: 'paused' })]);
  });

  it('joins DHCP leases to the domain by MAC address; a guest hostname holding markers changes nothing', () => {
    const b = 'd'.repeat(32);
    const leases = ['[{"ip-address":"192.168.122.50","mac-address":"52:54:00:AA:BB:CC","hostname":"@@DOMAINS @@LEASEFILE @@DONE","expiry-time":1}]', '[]'];
    const xml = `<domain type='qemu'><name>n</name><uuid>${U1}</uuid><vcpu>1</vcpu><devices><interface type='network'><mac address='52:54:00:aa:bb:cc'/></interface></devices></domain>`;
    expect(parseDomainList(listing(b, leases, [[U1, xml, 'running']]), b)[0]).toMatchObject({ name: 'n', ip: '192.168.122.50', state: 'running' });
  });
});

describe('other parsers', () => {
  it('parseQemuImgInfo reads format, size and backing file', () => {
    expect(parseQemuImgInfo(fixture('qemu-img-info-overlay.json'))).toEqual({
      format: 'qcow2',
      virtualSize: 268435456,
      actualSize: 200704,
      backingFile: '/var/lib/provisioner/disks/fx-base.qcow2',
    });
    expect(() => parseQemuImgInfo('qemu-img: Could not open')).toThrow(ParseError);
  });

  it('parseHostInfo reads the host-info script (virsh version without a daemon line)', () => {
    expect(parseHostInfo(fixture('host-info.txt'))).toMatchObject({ libvirtVersion: '9.0.0', hypervisor: 'QEMU 7.2.22', kvm: false, cpus: 2 });
    expect(() => parseHostInfo('hostname=x\n')).toThrow(ParseError);
  });

  it('parseLeaseStatus tolerates empty files', () => {
    expect(parseLeaseStatus('')).toEqual([]);
    expect(parseLeaseStatus('[]')).toEqual([]);
  });

  it('parseCurlProgress reads the last percentage of a --progress-bar chunk', () => {
    expect(parseCurlProgress('\r####                                   10.2%\r#########        22.5%')).toBe(22.5);
    expect(parseCurlProgress(`\r${'#'.repeat(72)} 100.0%`)).toBe(100);
    expect(parseCurlProgress('curl: (22) The requested URL returned error: 404')).toBeNull();
  });
});

describe('parseCreateVm (output of the one-exec create, captured from the loopback host)', () => {
  const b = '0123456789abcdef0123456789abcdef';
  const fixture = (f: string) => readFileSync(new URL(`./fixtures/${f}`, import.meta.url), 'utf8');

  it('reads the image version, the base facts it had to read and the started domain', () => {
    const out = parseCreateVm(fixture('create-vm-done.txt'), b);
    expect(out).toMatchObject({
      kind: 'done',
      image: {
        file: 'sha256-1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1',
        sha256: '1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1',
        sizeBytes: 196616,
      },
      base: { file: 'sha256-1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1', format: 'qcow2', virtualSize: 67108864 },
      domain: { name: 'wt16-capture-vm', state: 'running', instanceId: 'job-42', tags: { owner: 'alice' }, snapshots: [], addresses: [] },
    });
  });

  it('reads a base downloaded without a catalog checksum whose hash is not known yet', () => {
    const out = parseCreateVm(fixture('create-vm-done.txt').replace(/ (IMAGE|BASE) sha256-[a-f0-9]{64} /g, ' $1 dl-Ab3xZ9 '), b);
    expect(out).toMatchObject({ kind: 'done', image: { file: 'dl-Ab3xZ9', sha256: null, sizeBytes: 196616 }, base: { file: 'dl-Ab3xZ9', format: 'qcow2' } });
    expect(() => parseCreateVm(fixture('create-vm-done.txt').replace(/ IMAGE sha256-[a-f0-9]{64} /, ' IMAGE ../etc/passwd '), b)).toThrow(ParseError);
  });

  it('tells a domain that exists (its XML) and an image that is not cached', () => {
    const exists = parseCreateVm(fixture('create-vm-exists.txt'), b);
    expect(exists.kind).toBe('exists');
    expect(exists.kind === 'exists' && exists.xml).toContain('<instance-id>job-42</instance-id>');
    expect(parseCreateVm(fixture('create-vm-need-image.txt'), b)).toEqual({ kind: 'need-image' });
  });

  it('trusts only markers with its own boundary, and refuses output without a domain', () => {
    expect(parseStepMarker(`@@${b} BEGIN create-disk`, b)).toEqual({ step: 'create-disk', phase: 'begin' });
    expect(parseStepMarker(`@@${b} END start`, b)).toEqual({ step: 'start', phase: 'end' });
    expect(parseStepMarker(`@@${'f'.repeat(32)} END start`, b)).toBeNull();
    expect(parseStepMarker(`x@@${b} END start`, b)).toBeNull();
    const cut = fixture('create-vm-done.txt').split(`@@${b} DOMAIN`)[0] ?? '';
    expect(() => parseCreateVm(cut, b)).toThrow(ParseError);
  });
});
