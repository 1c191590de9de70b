import { describe, expect, it } from 'vitest';
import {
  createDiskArgv,
  createSeedArgv,
  ensureImageArgv,
  listDomainsArgv,
  powerOffArgv,
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

  it('keep the ensure-image script constant whatever the image', () => {
    const a = ensureImageArgv('/img', { name: 'v1', url: 'http://h/a b.qcow2' });
    const b = ensureImageArgv('/img', { name: 'v2', url: 'https://h/x', sha256: 'a'.repeat(64) }, true);
    expect(a[2]).toBe(b[2]);
    expect(b.slice(3)).toEqual(['ensure-image', '/img', 'v2', 'https://h/x', 'a'.repeat(64), '1']);
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
    () => setTagsArgv('qemu:///system', 'a;b', 'ns', '<x/>', ''),
  ])('reject invalid input before building a command (%#)', (build) => {
    expect(build).toThrow(InvalidArgumentError);
  });
});
