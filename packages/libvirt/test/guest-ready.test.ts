/**
 * guest-ready.sh (every VM a create waits for, in one exec) and its parser: run by sh here with a virsh that
 * answers like libvirt for a running VM with no guest agent, and console logs written by the test.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { guestReadyArgv } from '../src/commands.ts';
import { parseGuestReady } from '../src/guest-parse.ts';

const B = 'e'.repeat(32);
const dir = mkdtempSync(join(tmpdir(), 'guest-ready-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// `gone` does not exist; every other VM runs, has a lease, and no agent connected.
writeFileSync(
  join(dir, 'virsh'),
  `#!/bin/sh
case "$*" in
  *"domstate gone"*) echo "error: failed to get domain 'gone'" >&2; exit 1 ;;
  *domstate*) echo running ;;
  *"--source lease"*) printf ' vnet0  52:54:00:aa:bb:01  ipv4  192.168.122.10/24\\n' ;;
  *"--source arp"*) ;;
  *guest-ping*) echo "error: Guest agent is not responding: QEMU guest agent is not connected" >&2; exit 1 ;;
esac
`,
  { mode: 0o755 },
);

function run(vms: { name: string; consoleLog: string }[]): string {
  const [cmd, ...args] = guestReadyArgv('qemu:///system', B, vms, 2, 64 * 1024);
  return execFileSync(cmd as string, args, { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
}

describe('guest-ready.sh and parseGuestReady', () => {
  it('reports every VM asked about in one run: its status and the console’s finished line', () => {
    writeFileSync(join(dir, 'done.log'), `noise\n${'x'.repeat(100)}Cloud-init v. 22.4.2 finished at Thu, 01 Jan 2026. Datasource\n`);
    writeFileSync(join(dir, 'booting.log'), 'Cloud-init v. 22.4.2 running modules:final\n');
    const facts = parseGuestReady(
      run([
        { name: 'vm-done', consoleLog: join(dir, 'done.log') },
        { name: 'vm-booting', consoleLog: join(dir, 'booting.log') },
        { name: 'vm-nolog', consoleLog: join(dir, 'absent.log') },
        { name: 'gone', consoleLog: join(dir, 'gone.log') },
      ]),
      B,
    );
    const lease = { ip: '192.168.122.10', family: 'ipv4', mac: '52:54:00:aa:bb:01', source: 'lease' };
    expect(facts.get('vm-done')).toEqual({
      status: { state: 'running', agent: 'absent', cloud_init: 'unknown', addresses: [lease] },
      console: 'Cloud-init v. 22.4.2 finished at ',
    });
    expect(facts.get('vm-booting')?.console).toBe('');
    expect(facts.get('vm-booting')?.status?.state).toBe('running');
    expect(facts.get('vm-nolog')?.console).toBe('');
    expect(facts.get('gone')).toEqual({ status: { state: null, agent: 'unknown', cloud_init: 'unknown', addresses: [] }, console: '' });
  });

  it('refuses output without its end, and unsafe arguments', () => {
    expect(() => parseGuestReady(`@@${B} CONSOLE vm-1\n@@${B} VM vm-1\n`, B)).toThrow(/incomplete/);
    expect(() => guestReadyArgv('qemu:///system', B, [{ name: '$(id)', consoleLog: '/d/x.log' }], 2, 10)).toThrow();
    expect(() => guestReadyArgv('qemu:///system', B, [{ name: 'vm-1', consoleLog: 'relative.log' }], 2, 10)).toThrow();
    expect(() => guestReadyArgv('qemu:///system', B, [{ name: 'vm-1', consoleLog: '/d/../x.log' }], 2, 10)).toThrow();
  });

  it('keeps a guest’s words out of the framing: a console line that fakes a marker is only text', () => {
    const out = [`@@${B} CONSOLE vm-1`, 'Cloud-init v. 1 finished at ', `@@${B} VM vm-1`, `@@${B} STATE 0`, 'running', `@@${B} DONE`].join('\n');
    expect(parseGuestReady(out, B).get('vm-1')).toEqual({
      status: { state: 'running', agent: 'unknown', cloud_init: 'unknown', addresses: [] },
      console: 'Cloud-init v. 1 finished at ',
    });
  });
});
