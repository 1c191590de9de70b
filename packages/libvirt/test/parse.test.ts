import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../src/errors.ts';
import { parseCurlProgress, parseDomainList, parseHostInfo, parseLeaseStatus, parseQemuImgInfo } from '../src/parse.ts';

// Captured from the real tools on the loopback host (libvirt 9.0.0, QEMU 7.2, qemu-img 7.2).
const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('parseDomainList (output of the one-exec listing script)', () => {
  const list = parseDomainList(fixture('list-domains.txt'));
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

  it('refuses truncated output', () => {
    expect(() => parseDomainList(fixture('list-domains.txt').replace('@@DONE', ''))).toThrow(ParseError);
  });

  it('skips a domain that vanished between listing and dumping', () => {
    const out = '@@DOMAINS\n@@DOMAIN 00000000-0000-0000-0000-000000000000@@STATE\n@@DONE\n';
    expect(parseDomainList(out)).toEqual([]);
  });

  it('joins DHCP leases to the domain by MAC address', () => {
    const leases = '@@LEASEFILE\n[{"ip-address":"192.168.122.50","mac-address":"52:54:00:AA:BB:CC","hostname":"x","expiry-time":1}]\n';
    const xml =
      "<domain type='qemu'><name>n</name><uuid>u</uuid><vcpu>1</vcpu><devices><interface type='network'><mac address='52:54:00:aa:bb:cc'/></interface></devices></domain>";
    const out = `${leases}\n@@DOMAINS\n@@DOMAIN 00000000-0000-0000-0000-000000000001${xml}\n@@STATErunning\n@@DONE\n`;
    expect(parseDomainList(out)[0]).toMatchObject({ name: 'n', ip: '192.168.122.50', state: 'running' });
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
