import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../src/errors.ts';
import {
  parseCreateVm,
  parseCurlProgress,
  parseDiskInfo,
  parseDomainList,
  parseEnsureImage,
  parseHostInfo,
  parseLeaseStatus,
  parseQemuImgInfo,
  parseStepMarker,
} from '../src/parse.ts';
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

  /** Builds listing output as the script prints it (sh/list-domains.sh), around the given domains. */
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

  it('reads the image version and the started domain', () => {
    const out = parseCreateVm(fixture('create-vm-done.txt'), b);
    expect(out).toMatchObject({
      kind: 'done',
      image: {
        file: 'sha256-1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1',
        sha256: '1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1',
        sizeBytes: 196616,
      },
      domain: { name: 'wt16-capture-vm', state: 'running', instanceId: 'job-42', tags: { owner: 'alice' }, snapshots: [], addresses: [] },
    });
  });

  it('reads a base downloaded without a catalog checksum whose hash is not known yet', () => {
    const out = parseCreateVm(fixture('create-vm-done.txt').replace(/ IMAGE sha256-[a-f0-9]{64} /g, ' IMAGE dl-Ab3xZ9 '), b);
    expect(out).toMatchObject({ kind: 'done', image: { file: 'dl-Ab3xZ9', sha256: null, sizeBytes: 196616 } });
    expect(() => parseCreateVm(fixture('create-vm-done.txt').replace(/ IMAGE sha256-[a-f0-9]{64} /, ' IMAGE ../etc/passwd '), b)).toThrow(ParseError);
  });

  it('reads the base facts it was not given from qemu-img’s JSON (nothing made: the caller runs it again with them)', () => {
    const base = 'sha256-1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1';
    expect(parseCreateVm(fixture('create-vm-need-base.txt'), b)).toEqual({
      kind: 'need-base',
      file: base,
      info: { format: 'qcow2', virtualSize: 67108864, actualSize: 200704, backingFile: null },
    });
    // qemu-img's JSON is read as JSON: its layout (indentation, key order, one line) does not matter.
    const [head = '', json = ''] = fixture('create-vm-need-base.txt').split(/(?<=\n)(?=\{)/);
    const oneLine = `${head}${JSON.stringify({ 'dirty-flag': false, format: 'raw', 'virtual-size': 1 << 30 })}\n@@${b} NEED-BASE\n`;
    expect(json).toContain('"virtual-size"');
    expect(parseCreateVm(oneLine, b)).toMatchObject({ kind: 'need-base', info: { format: 'raw', virtualSize: 1 << 30 } });
    expect(() => parseCreateVm(`${head}not json\n@@${b} NEED-BASE\n`, b)).toThrow(ParseError);
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

describe('parseDiskInfo and parseEnsureImage (qemu-img’s JSON, captured from the real tools)', () => {
  const b = '0123456789abcdef0123456789abcdef';

  it('gives each file its facts in the order asked, null for one the host could not read', () => {
    expect(parseDiskInfo(fixture('disk-info.txt'), b, 2)).toEqual([
      null,
      { format: 'qcow2', virtualSize: 268435456, actualSize: 200704, backingFile: '/var/lib/provisioner/disks/base.qcow2' },
    ]);
    expect(parseDiskInfo(`@@${b} DONE\n`, b, 1)).toEqual([null]);
  });

  it('refuses output cut short, a section for a file not asked about, and markers of another boundary', () => {
    expect(() => parseDiskInfo(fixture('disk-info.txt').replace(`@@${b} DONE`, ''), b, 2)).toThrow(ParseError);
    expect(() => parseDiskInfo(fixture('disk-info.txt'), b, 1)).toThrow(ParseError);
    // A file's JSON that forged another run's marker is just text inside that file's section: not JSON.
    expect(parseDiskInfo(fixture('disk-info.txt').replace(`@@${b} INFO 2`, `@@${'f'.repeat(32)} INFO 2`), b, 2)).toEqual([null, null]);
  });

  it('reads the cached file, its size and its facts; without readable facts the image is still cached', () => {
    const hex = '1b7af784841125887e688254229e282829e17245d0e47fe7280da9b68a30d9e1';
    expect(parseEnsureImage(fixture('ensure-image-cached.txt'))).toEqual({
      outcome: 'cached',
      file: `sha256-${hex}`,
      sha256: hex,
      sizeBytes: 196616,
      base: { format: 'qcow2', virtualSize: 67108864, actualSize: 200704, backingFile: null },
    });
    expect(parseEnsureImage('downloaded dl-Ab3xZ9 42\n')).toEqual({ outcome: 'downloaded', file: 'dl-Ab3xZ9', sha256: null, sizeBytes: 42, base: null });
    expect(() => parseEnsureImage('cached ../etc/passwd 1\n')).toThrow(ParseError);
  });
});
