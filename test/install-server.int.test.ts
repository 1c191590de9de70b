/** install-server.sh: usage errors change nothing; a second run on a prepared host changes nothing. */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const run = (...args: string[]) => spawnSync('bash', ['install-server.sh', ...args], { encoding: 'utf8', timeout: 300_000 });
const watched = [
  '/etc/libvirt/libvirtd.conf',
  '/etc/libvirt/qemu.conf',
  '/etc/ssh/sshd_config_provisioner',
  '/var/lib/provisioner-local/host.json',
  '/etc/passwd',
];
const mtimes = () => watched.map((f) => statSync(f).mtimeMs);
const pidOf = (name: string) => spawnSync('pgrep', ['-o', '-x', name], { encoding: 'utf8' }).stdout.trim();

describe('install-server.sh', () => {
  it('documents every flag in --help', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const flag of [
      '--ssh-port',
      '--authorized-key',
      '--listen',
      '--user',
      '--hostname',
      '--local',
      '--data-dir',
      '--network',
      '--skip-packages',
      '--help',
    ]) {
      expect(r.stdout).toContain(flag);
    }
  });

  it.each([
    ['--bogus'],
    ['--ssh-port', 'abc'],
    ['--ssh-port', '70000'],
    ['--user', 'Bad;Name'],
    ['--authorized-key', '/nonexistent.pub'],
    ['--data-dir', 'relative'],
  ])('exits 2 on bad usage %j and changes nothing', (...args) => {
    const before = mtimes();
    const r = run(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(args[0]);
    expect(r.stderr).toContain('--help');
    expect(mtimes()).toEqual(before);
  });

  it('is idempotent: a second --local run changes no file, restarts no daemon and prints the same host line', () => {
    const before = mtimes();
    const pids = [pidOf('libvirtd'), pidOf('virtlogd')];
    const r = run('--local', '--skip-packages');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('nothing changed');
    expect(mtimes()).toEqual(before);
    expect([pidOf('libvirtd'), pidOf('virtlogd')]).toEqual(pids);
    const host = JSON.parse(readFileSync('/var/lib/provisioner-local/host.json', 'utf8'));
    expect(r.stdout.trim().split('\n').at(-1)).toBe(
      `provisioner-host address=127.0.0.1 port=${host.port} user=${host.user} host_key_fingerprint=${host.host_key_fingerprint}`,
    );
  });
});
