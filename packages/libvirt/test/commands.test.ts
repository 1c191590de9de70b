import { describe, expect, it } from 'vitest';
import {
  createDiskArgv,
  createSeedArgv,
  createVmArgv,
  ensureImageArgv,
  listDomainsArgv,
  powerOffArgv,
  resizeArgv,
  setTagsArgv,
  shutdownArgv,
  startArgv,
  undefineArgv,
} from '../src/commands.ts';
import { InvalidArgumentError } from '../src/errors.ts';

const URI = 'qemu:///system';

describe('argv builders', () => {
  it('pass user values only as positional arguments after a constant script', () => {
    const argv = startArgv(URI, 'amber-otter');
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3)).toEqual(['start', URI, 'amber-otter']);
    expect(argv[2]).not.toContain('amber-otter');
  });

  it('resize: a constant script, memory in KiB, metadata XML only as an argument; bad sizes and paths refused', () => {
    const meta = '<domain xmlns="https://provisioner.dev/xmlns/domain/1"><instance-type>a\'; rm -rf /</instance-type></domain>';
    const ns = 'https://provisioner.dev/xmlns/domain/1';
    const args = {
      name: 'amber-otter',
      vcpus: 2,
      memoryMiB: 192,
      diskPath: '/d/amber-otter.qcow2',
      diskBytes: 768 * 1024 * 1024,
      diskNow: 512 << 20,
      ns,
      metadataXml: meta,
    };
    const a = resizeArgv(URI, args);
    const b = resizeArgv(URI, {
      name: 'other',
      vcpus: 1,
      memoryMiB: 64,
      diskPath: '/d/other.qcow2',
      diskBytes: 1,
      diskNow: null,
      ns: 'ns',
      metadataXml: '<x/>',
    });
    expect(a[2]).toBe(b[2]);
    expect(a.slice(3)).toEqual([
      'resize',
      URI,
      'amber-otter',
      '2',
      String(192 * 1024),
      '/d/amber-otter.qcow2',
      String(768 * 1024 * 1024),
      String(512 << 20),
      ns,
      meta,
    ]);
    expect(b[10]).toBe('');
    expect(a[2]).not.toContain('rm -rf');
    expect(() => resizeArgv(URI, { ...args, vcpus: 0 })).toThrow(InvalidArgumentError);
    expect(() => resizeArgv(URI, { ...args, memoryMiB: 64.5 })).toThrow(InvalidArgumentError);
    expect(() => resizeArgv(URI, { ...args, diskPath: '../vm.qcow2' })).toThrow(InvalidArgumentError);
    expect(() => resizeArgv(URI, { ...args, name: 'Bad Name' })).toThrow(InvalidArgumentError);
    expect(() => resizeArgv(URI, { ...args, diskNow: 1.5 })).toThrow(InvalidArgumentError);
  });

  it('create-vm: one constant script; the XML and every value only as arguments; user-data never in argv', () => {
    const args = {
      name: 'amber-otter',
      instanceId: 'job-1',
      imagesDir: '/img',
      image: { name: 'debian-12', sha256: 'a'.repeat(64) },
      diskPath: '/d/amber-otter.qcow2',
      diskBytes: 1 << 30,
      seedPath: '/d/amber-otter-seed.iso',
      consoleLog: '/d/amber-otter.console.log',
      knownBase: { file: `sha256-${'a'.repeat(64)}`, format: 'qcow2', virtualSize: 1 << 20 },
      mine: false,
      xml: "<domain><name>amber-otter</name><description>'; rm -rf / #</description></domain>",
      boundary: 'b'.repeat(32),
    };
    const a = createVmArgv(URI, args);
    const b = createVmArgv(URI, { ...args, name: 'other', image: { name: 'x' }, knownBase: null, mine: true });
    expect(a[2]).toBe(b[2]);
    expect(a.slice(0, 2)).toEqual(['sh', '-c']);
    expect(a.slice(3)).toEqual([
      'create-vm',
      URI,
      'amber-otter',
      '/img',
      'debian-12',
      'a'.repeat(64),
      '/d/amber-otter.qcow2',
      String(1 << 30),
      '/d/amber-otter-seed.iso',
      'job-1',
      `sha256-${'a'.repeat(64)}`,
      'qcow2',
      String(1 << 20),
      '/d/amber-otter.console.log',
      '0',
      args.xml,
      'b'.repeat(32),
    ]);
    expect(b.slice(13, 17)).toEqual(['', '', '', '/d/amber-otter.console.log']);
    expect(() => createVmArgv(URI, { ...args, name: '$(id)' })).toThrow(InvalidArgumentError);
    expect(() => createVmArgv(URI, { ...args, diskPath: '../x' })).toThrow(InvalidArgumentError);
    expect(() => createVmArgv(URI, { ...args, knownBase: { file: 'dl-abc123', format: 'qcow2 -o x', virtualSize: 1 } })).toThrow(InvalidArgumentError);
    expect(() => createVmArgv(URI, { ...args, boundary: 'zz' })).toThrow(InvalidArgumentError);
    expect(() => createVmArgv(URI, { ...args, knownBase: { file: '../etc/passwd', format: 'raw', virtualSize: 1 } })).toThrow(InvalidArgumentError);
  });

  it('set-tags: the metadata namespace, its XML and the description in that order, never in the script', () => {
    const argv = setTagsArgv(URI, 'amber-otter', { ns: 'urn:ns', metadataXml: "<t k='$(id)'/>", description: 'owner=alice' });
    expect(argv.slice(3)).toEqual(['set-tags', URI, 'amber-otter', 'urn:ns', "<t k='$(id)'/>", 'owner=alice']);
    expect(argv[2]).not.toContain('$(id)');
  });

  it('keep the ensure-image script constant whatever the image', () => {
    const a = ensureImageArgv('/img', { name: 'v1', url: 'http://h/a b.qcow2' });
    const b = ensureImageArgv('/img', { name: 'v2', url: 'https://h/x', sha256: 'a'.repeat(64) }, true);
    expect(a[2]).toBe(b[2]);
    expect(b.slice(3)).toEqual(['ensure-image', '/img', 'v2', 'https://h/x', 'a'.repeat(64), '1', '0']);
  });

  it.each([
    () => startArgv(URI, '$(id)'),
    () => powerOffArgv(URI, '--all'),
    () => shutdownArgv(URI, 'ok', 0),
    () => undefineArgv(URI, 'ok', ['relative']),
    () => undefineArgv(URI, 'ok', ['/a/../etc/passwd']),
    () => createDiskArgv('/d/x.qcow2', 'qcow2; rm', '/i/b', 10),
    () => createDiskArgv('/d/x.qcow2', 'qcow2', '/i/b', -1),
    () => createSeedArgv('/d/s.iso', 'id', 'Bad_Name'),
    () => ensureImageArgv('/img', { name: '../etc', url: 'http://h/x' }),
    () => ensureImageArgv('/img', { name: 'ok', url: 'file:///etc/shadow' }),
    () => ensureImageArgv('/img', { name: 'ok', url: 'http://h/x', sha256: 'XYZ' }),
    () => listDomainsArgv('qemu:///system; id', 'a'.repeat(32)),
    () => listDomainsArgv('qemu:///system', 'not-hex; id'),
    () => setTagsArgv('qemu:///system', 'a;b', { ns: 'ns', metadataXml: '<x/>', description: '' }),
  ])('reject invalid input before building a command (%#)', (build) => {
    expect(build).toThrow(InvalidArgumentError);
  });
});
