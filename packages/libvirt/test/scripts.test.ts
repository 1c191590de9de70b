import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createVmArgv, ensureImageArgv, guestStatusArgv, startArgv } from '../src/commands.ts';
import { loadScript, SCRIPT_NAMES, SHELL_LIBS, scriptArgv } from '../src/scripts.ts';

const DIR = fileURLToPath(new URL('../src/sh/', import.meta.url));
const files = readdirSync(DIR).filter((f) => f.endsWith('.sh'));

describe('the host scripts (src/sh)', () => {
  it('are shellcheck-clean (scripts/ensure-deps.sh installs shellcheck)', () => {
    // .shellcheckrc beside them lets shellcheck follow `. ./lib.sh` into the library.
    const r = spawnSync('shellcheck', ['--format=gcc', ...files], { cwd: DIR, encoding: 'utf8' });
    expect(r.error, 'shellcheck is not installed: run scripts/ensure-deps.sh').toBeUndefined();
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);

  it('are the scripts the library names and its shell libraries, nothing else', () => {
    expect(files.sort()).toEqual([...SCRIPT_NAMES.map((n) => `${n}.sh`), ...SHELL_LIBS].sort());
  });

  it('each start with a header naming the script and its arguments', () => {
    for (const name of SCRIPT_NAMES) {
      const [shebang, ...rest] = readFileSync(`${DIR}/${name}.sh`, 'utf8').split('\n');
      expect(shebang).toMatch(/^#!\/bin\/(sh|bash)$/);
      const comments = rest.slice(
        0,
        rest.findIndex((l) => !l.startsWith('#')),
      );
      const header = comments.map((l) => l.replace(/^# */, '')).join(' ');
      expect(header, name).toMatch(new RegExp(`^${name}( [A-Z\\[][A-Z0-9_.…\\[\\] ]*)?: \\S`));
    }
  });

  it('run with the libraries they pull in inlined, under the shell their first line names, and parse there', () => {
    const create = createVmArgv('qemu:///system', {
      name: 'vm-1',
      instanceId: 'job-1',
      imagesDir: '/i',
      image: { name: 'img' },
      diskPath: '/d/vm-1.qcow2',
      diskBytes: 1,
      seedPath: '/d/s.iso',
      consoleLog: '/d/c.log',
      knownBase: null,
      mine: false,
      xml: '<domain/>',
      boundary: 'a'.repeat(32),
    });
    expect(create[0]).toBe('sh');
    expect(create[2]).toContain('make_disk() {');
    expect(create[2]).not.toMatch(/^\s*\. \.\//m);
    expect(guestStatusArgv('qemu:///system', 'a'.repeat(32), [], 2)[2]).toContain('guests_out() {');
    expect(ensureImageArgv('/i', { name: 'img', url: 'http://h/x' })[0]).toBe('bash');
    expect(startArgv('qemu:///system', 'vm-1')[2]).toBe(scriptArgv('start')[2]);
    for (const name of SCRIPT_NAMES) {
      const [shell, , text = ''] = scriptArgv(name);
      expect(text, name).not.toMatch(/^\s*\. \.\//m);
      expect(() => execFileSync(shell as string, ['-n', '-c', text]), name).not.toThrow();
    }
  });

  it('refuses a script that pulls in a file that is no shell library', () => {
    expect(() => loadScript('../../test/fixtures/not-a-lib.sh')).toThrow(/not a shell library/);
  });
});
