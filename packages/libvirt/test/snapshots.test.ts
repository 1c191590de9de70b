/**
 * Snapshots in the library: the snapshot XML libvirt 9.0 wrote for a stopped service-style domain
 * (fixtures/snapshot-dumpxml-shutoff.xml: qcow2 disk internal, the raw seed `snapshot='no'`), the
 * listing's SNAPSHOTS/SNAPSHOT sections, and the argv builders' refusals.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { listDomainsArgv, snapshotCreateArgv, snapshotDeleteArgv, snapshotRevertArgv, snapshotsArgv } from '../src/commands.ts';
import { InvalidArgumentError } from '../src/errors.ts';
import { parseDomainList, parseSnapshots, parseSnapshotXml } from '../src/parse.ts';

const B = 'e'.repeat(32);
const URI = 'qemu:///system';
const SNAP = readFileSync(new URL('./fixtures/snapshot-dumpxml-shutoff.xml', import.meta.url), 'utf8');
const UUID = 'db570466-9f82-4d99-8fdc-a791ecd01a4c';
const domainXml = (uuid: string) =>
  `<domain type='qemu'><name>vm-${uuid.slice(0, 4)}</name><uuid>${uuid}</uuid><memory unit='KiB'>65536</memory><vcpu>1</vcpu></domain>`;

describe('parseSnapshotXml', () => {
  it('reads name, time, state in domstate’s words, the job marker and the saved definition’s type and sizes', () => {
    expect(parseSnapshotXml(SNAP)).toEqual({
      name: 'before-upgrade',
      createdAt: new Date(1796082808 * 1000).toISOString(),
      state: 'shut off',
      description: 'job_0123456789abcdef0123456789abcdef',
      instanceType: 'small',
      vcpus: 1,
      memoryMiB: 64,
    });
  });

  it('a snapshot of a running domain keeps its state; one without description has none', () => {
    const running = SNAP.replace('<state>shutoff</state>', '<state>running</state>').replace(/<description>.*<\/description>/, '');
    expect(parseSnapshotXml(running)).toMatchObject({ state: 'running', description: null });
  });
});

describe('snapshots in the listing', () => {
  it('attaches each SNAPSHOT section to its domain by UUID, oldest first; domains without any get none', () => {
    const later = SNAP.replace('before-upgrade', 'after').replace('1796082808', '1796082900');
    const out = [
      `@@${B} DOMAINS`,
      `@@${B} DOMAIN ${UUID}`,
      domainXml(UUID),
      `@@${B} STATE`,
      'shut off',
      `@@${B} SNAPSHOTS`,
      'after',
      'before-upgrade',
      `@@${B} DOMAIN 00000000-0000-4000-8000-000000000002`,
      domainXml('00000000-0000-4000-8000-000000000002'),
      `@@${B} STATE`,
      'running',
      `@@${B} SNAPSHOTS`,
      `@@${B} SNAPSHOT ${UUID} after`,
      later,
      `@@${B} SNAPSHOT ${UUID} before-upgrade`,
      SNAP,
      // Deleted between the two batches: no XML, left out.
      `@@${B} SNAPSHOT ${UUID} gone`,
      `@@${B} DONE`,
    ].join('\n');
    const [a, b] = parseDomainList(out, B);
    expect(a?.snapshots.map((s) => s.name)).toEqual(['before-upgrade', 'after']);
    expect(b?.snapshots).toEqual([]);
  });

  it('one domain’s snapshots (SNAPSHOTS script output); cut output is an error', () => {
    const out = `@@${B} SNAPSHOT vm-1 before-upgrade\n${SNAP}\n@@${B} DONE\n`;
    expect(parseSnapshots(out, B).map((s) => s.name)).toEqual(['before-upgrade']);
    expect(parseSnapshots(`@@${B} DONE\n`, B)).toEqual([]);
    expect(() => parseSnapshots(`@@${B} SNAPSHOT vm-1 before-upgrade\n${SNAP}`, B)).toThrow(/incomplete/);
  });
});

describe('snapshot argv builders', () => {
  it('take only names as VM names are (they reach virsh batches) and a plain marker', () => {
    for (const bad of ['Upper', '-x', 'a b', "x';reboot", 'x;destroy y', '']) {
      expect(() => snapshotCreateArgv(URI, 'vm-1', bad, 'job_1')).toThrow(InvalidArgumentError);
      expect(() => snapshotRevertArgv(URI, 'vm-1', bad, '/d/vm-1.console.log')).toThrow(InvalidArgumentError);
      expect(() => snapshotDeleteArgv(URI, 'vm-1', bad)).toThrow(InvalidArgumentError);
      expect(() => snapshotsArgv(URI, B, bad)).toThrow(InvalidArgumentError);
    }
    expect(() => snapshotCreateArgv(URI, 'vm-1', 'ok', 'job 1; x')).toThrow(InvalidArgumentError);
    expect(snapshotCreateArgv(URI, 'vm-1', 'before-upgrade', 'job_1').slice(-4)).toEqual([URI, 'vm-1', 'before-upgrade', 'job_1']);
  });

  it('the listing dumps snapshots only for names it could paste safely', () => {
    const script = listDomainsArgv(URI, B)[2] ?? '';
    expect(script).toContain('snapshot-list $u --name');
    expect(script).toContain('/^[a-z0-9][a-z0-9-]*$/');
  });
});
