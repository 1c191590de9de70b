import { parseDiskFiles, removeOldFilesArgv } from '@provisioner/libvirt';
import { describe, expect, it } from 'vitest';
import { computeDrift, fileOwner } from '../../src/drift.ts';

const dir = '/var/lib/provisioner/disks';
const now = Date.parse('2030-01-01T12:00:00Z');
const hourAgo = now - 3_600_000;
const file = (name: string, mtimeMs = hourAgo) => ({ name, sizeBytes: 8, mtimeMs });
const dom = (name: string, managed = true, disks = [`${dir}/${name}.qcow2`, `${dir}/${name}-seed.iso`]) => ({ name, managed, disks });
const base = { disksDir: dir, reserved: [] as string[], busy: new Set<string>(), now, graceMs: 600_000 };

describe('fileOwner', () => {
  it('names the VM of the service’s files, and none for anything else', () => {
    expect(fileOwner('web-1.qcow2')).toBe('web-1');
    expect(fileOwner('web-1-seed.iso')).toBe('web-1');
    expect(fileOwner('web-1.console.log.2')).toBe('web-1');
    expect(fileOwner('web-1.qcow2.part')).toBe('web-1');
    expect(fileOwner('a-seed.qcow2')).toBe('a-seed');
    for (const n of ['README', 'Upper.qcow2', '-x.qcow2', '.hidden', 'x y.qcow2']) expect(fileOwner(n)).toBeNull();
  });
});

describe('computeDrift (pure)', () => {
  it('lists a managed domain without its disk, files of no domain older than the grace period, names with neither domain nor job', () => {
    const items = computeDrift({
      ...base,
      domains: [dom('ok'), dom('nodisk'), dom('theirs', false), dom('elsewhere', true, ['/other/elsewhere.qcow2'])],
      files: [file('ok.qcow2'), file('ok-seed.iso'), file('gone.qcow2'), file('gone-seed.iso'), file('theirs.qcow2'), file('notes.txt.bak'), file('NOTES')],
      reserved: ['ok', 'lost', 'nodisk'],
    });
    expect(items.map((i) => [i.kind, i.vm_name, i.path])).toEqual([
      ['domain-without-disk', 'nodisk', `${dir}/nodisk.qcow2`],
      ['file-without-domain', 'gone', `${dir}/gone.qcow2`],
      ['file-without-domain', 'gone', `${dir}/gone-seed.iso`],
      ['file-without-domain', 'notes', `${dir}/notes.txt.bak`],
      ['name-without-vm', 'lost', null],
    ]);
  });

  it('leaves out young files, everything of a VM with a job, and unmanaged domains', () => {
    const items = computeDrift({
      ...base,
      domains: [dom('theirs', false, []), dom('moving')],
      files: [file('fresh.qcow2', now - 60_000), file('busy.qcow2'), file('busy-seed.iso')],
      reserved: ['busy', 'fresh-name'],
      busy: new Set(['busy', 'moving', 'fresh-name']),
    });
    expect(items).toEqual([]);
  });
});

describe('the listing’s FILES section and the removal command', () => {
  it('parses `MTIME SIZE NAME` lines, skipping what does not parse; null without the section', () => {
    const b = 'f'.repeat(32);
    const out = `@@${b} FILES\n1700000000.5 1024 a.qcow2\nnot a line\n1700000001 0 b-seed.iso\n@@${b} DOMAINS\n@@${b} DONE\n`;
    expect(parseDiskFiles(out, b)).toEqual([
      { name: 'a.qcow2', sizeBytes: 1024, mtimeMs: 1_700_000_000_500 },
      { name: 'b-seed.iso', sizeBytes: 0, mtimeMs: 1_700_000_001_000 },
    ]);
    expect(parseDiskFiles(`@@${b} DOMAINS\n@@${b} DONE\n`, b)).toBeNull();
  });

  it('removes by exact name only files older than the cutoff, and refuses paths and globs', () => {
    const argv = removeOldFilesArgv(dir, 1_700_000_000, ['a.qcow2', 'a-seed.iso']);
    expect(argv.slice(3)).toEqual(['remove-old-files', dir, '1700000000', 'a.qcow2', 'a-seed.iso']);
    expect(argv[2]).toContain('! -newermt "@$cutoff"');
    for (const bad of ['../etc/passwd', '*.qcow2', 'a/b', '']) expect(() => removeOldFilesArgv(dir, 1, [bad])).toThrow();
    expect(() => removeOldFilesArgv('relative', 1, ['a.qcow2'])).toThrow();
  });
});
