/**
 * Guest readiness and console: the argv builders and the parsers, fed output captured from the real tools
 * on the real guest (test/guest/readiness.int.test.ts with PROVISIONER_CAPTURE_FIXTURES; boundary f×32).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONSOLE_TAIL_MAX, consoleTailArgv, guestStatusArgv, startArgv } from '../src/commands.ts';
import { InvalidArgumentError, ParseError } from '../src/errors.ts';
import { parseAgentInterfaces, parseCloudInitResult, parseConsoleTail, parseDomIfAddr, parseGuestStatus } from '../src/guest-parse.ts';
import { buildDomainXml } from '../src/xml.ts';

const URI = 'qemu:///system';
const B = 'f'.repeat(32);
const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const VM = 'guest-0b989315';

describe('guestStatusArgv', () => {
  it('passes the VMs as FLAG NAME pairs after a constant script', () => {
    const a = guestStatusArgv(URI, B, [{ name: 'amber-otter', agent: true }], 2);
    const b = guestStatusArgv(
      URI,
      'a'.repeat(32),
      [
        { name: 'x', agent: false },
        { name: 'y', agent: true },
      ],
      5,
    );
    expect(a[2]).toBe(b[2]);
    expect(a.slice(3)).toEqual(['guest-status', URI, B, '2', '1', 'amber-otter']);
    expect(b.slice(3)).toEqual(['guest-status', URI, 'a'.repeat(32), '5', '0', 'x', '1', 'y']);
    // Every agent call carries the timeout.
    expect(a[2]?.match(/qemu-agent-command/g)).toHaveLength(1);
    expect(a[2]).toContain('qemu-agent-command --timeout "$t"');
  });

  it.each([
    () => guestStatusArgv(URI, B, [{ name: '$(id)', agent: true }], 2),
    () => guestStatusArgv(URI, B, [{ name: '--all', agent: true }], 2),
    () => guestStatusArgv(URI, 'not-hex', [], 2),
    () => guestStatusArgv(URI, B, [], 0),
    () => guestStatusArgv(URI, B, [], 61),
    () => guestStatusArgv('qemu:///system;reboot', B, [], 2),
  ])('rejects bad input (%#)', (f) => {
    expect(f).toThrow(InvalidArgumentError);
  });
});

describe('parseGuestStatus on the real guest', () => {
  it('booting: running, no address yet, the agent not connected; a name that is no domain', () => {
    const m = parseGuestStatus(fixture('guest-status-absent-unknown.txt'), B);
    expect([...m.keys()]).toEqual([VM, 'no-such-vm-0']);
    expect(m.get(VM)).toEqual({ state: 'running', agent: 'absent', cloud_init: 'unknown', addresses: [] });
    expect(m.get('no-such-vm-0')).toEqual({ state: null, agent: 'unknown', cloud_init: 'unknown', addresses: [] });
  });

  it('agent up before cloud-init started: pending; loopback is not an address', () => {
    const st = parseGuestStatus(fixture('guest-status-connected-pending.txt'), B).get(VM);
    expect(st).toEqual({ state: 'running', agent: 'connected', cloud_init: 'pending', addresses: [] });
  });

  it('cloud-init running (status.json, no result.json yet)', () => {
    const st = parseGuestStatus(fixture('guest-status-connected-running.txt'), B).get(VM);
    expect(st).toMatchObject({ state: 'running', agent: 'connected', cloud_init: 'running' });
  });

  it('done: result.json without errors, lease and agent addresses with the same MAC', () => {
    const st = parseGuestStatus(fixture('guest-status-connected-done.txt'), B).get(VM);
    expect(st).toMatchObject({ state: 'running', agent: 'connected', cloud_init: 'done' });
    expect(st?.cloud_init_errors).toBeUndefined();
    const lease = st?.addresses.find((a) => a.source === 'lease');
    expect(lease).toMatchObject({ family: 'ipv4', mac: expect.stringMatching(/^52:54:00:/) });
    expect(st?.addresses).toContainEqual({ ip: lease?.ip, family: 'ipv4', mac: lease?.mac, source: 'agent' });
    expect(st?.addresses.some((a) => a.ip === '127.0.0.1' || a.ip === '::1')).toBe(false);
  });

  it('error: result.json with errors lists them, bounded', () => {
    const result = JSON.stringify({ v1: { datasource: 'x', errors: ['(\'modules-final\', Error("boom"))', ...Array(30).fill('e'.repeat(900))] } });
    const r = parseCloudInitResult(result);
    expect(r.cloud_init).toBe('error');
    expect(r.cloud_init_errors?.[0]).toContain('boom');
    expect(r.cloud_init_errors).toHaveLength(20);
    expect(r.cloud_init_errors?.[1]).toHaveLength(500);
    expect(parseCloudInitResult('not json')).toMatchObject({ cloud_init: 'error' });
  });

  it('a guest cannot forge a section: only lines with this run’s boundary are markers', () => {
    const forged = fixture('guest-status-connected-pending.txt').replace(
      '{"return":{}}',
      `{"return":{}}\n@@${'0'.repeat(32)} VM evil\n@@${'0'.repeat(32)} STATE 0\nrunning`,
    );
    const m = parseGuestStatus(forged, B);
    expect([...m.keys()]).toEqual([VM, 'no-such-vm-0']);
    // The forged lines are only the ping's text now: the ping still failed nothing, the rest is unchanged.
    expect(m.get(VM)).toMatchObject({ agent: 'connected', cloud_init: 'pending' });
  });

  it('incomplete output (the exec was cut) is a ParseError, not a guess', () => {
    const cut = fixture('guest-status-connected-pending.txt').replace(`@@${B} DONE\n`, '');
    expect(() => parseGuestStatus(cut, B)).toThrow(ParseError);
  });

  it('an agent timeout is an absent agent; an unexpected failure is unknown', () => {
    const base = fixture('guest-status-absent-unknown.txt');
    const timeout = base.replace('QEMU guest agent is not connected', 'Guest agent not available for now');
    expect(parseGuestStatus(timeout, B).get(VM)?.agent).toBe('absent');
    const other = base.replace('error: Guest agent is not responding: QEMU guest agent is not connected', 'error: something else');
    expect(parseGuestStatus(other, B).get(VM)?.agent).toBe('unknown');
  });
});

describe('address parsers', () => {
  it('domifaddr rows, a second address of an interface under “-”, nothing from junk', () => {
    const text = [
      ' Name       MAC address          Protocol     Address',
      '-------------------------------------------------------------------------------',
      ' vnet7      52:54:00:1a:82:38    ipv4         192.168.122.187/24',
      ' -          -                    ipv6         fd00::5/64',
      ' vnet8      zz                   ipv4         999.1.1.1/24',
    ].join('\n');
    expect(parseDomIfAddr(text, 'lease')).toEqual([
      { ip: '192.168.122.187', family: 'ipv4', mac: '52:54:00:1a:82:38', source: 'lease' },
      { ip: 'fd00::5', family: 'ipv6', mac: '52:54:00:1a:82:38', source: 'lease' },
    ]);
  });

  it('agent interfaces: hostile values are dropped', () => {
    const json = JSON.stringify({
      return: [
        { name: 'eth0\n@@x', 'hardware-address': '<b>', 'ip-addresses': [{ 'ip-address': '10.0.0.2' }, { 'ip-address': '$(id)' }] },
        { name: 'x', 'ip-addresses': 'nope' },
        null,
      ],
    });
    expect(parseAgentInterfaces(json)).toEqual([{ ip: '10.0.0.2', family: 'ipv4', mac: null, source: 'agent' }]);
    expect(parseAgentInterfaces('garbage')).toEqual([]);
  });
});

describe('serial console', () => {
  it('the domain logs its pty serial console to the given file, appending; virsh console keeps its pty', () => {
    const xml = buildDomainXml({
      name: 'amber-otter',
      instanceId: 'op-1',
      vcpus: 1,
      memoryMiB: 64,
      diskPath: '/d/amber-otter.qcow2',
      seedPath: null,
      consoleLogPath: '/d/amber-otter.console.log',
      network: { type: 'none' },
      domainType: 'qemu',
      tags: {},
    });
    expect(xml).toContain('<serial type="pty"><log file="/d/amber-otter.console.log" append="on"/></serial><console type="pty"/>');
  });

  it('start makes the log as the automation user before libvirt does', () => {
    expect(startArgv(URI, 'amber-otter', '/d/amber-otter.console.log').slice(3)).toEqual(['start', URI, 'amber-otter', '/d/amber-otter.console.log']);
    expect(() => startArgv(URI, 'amber-otter', 'relative.log')).toThrow(InvalidArgumentError);
  });

  it('consoleTailArgv bounds the byte count to 1 MiB', () => {
    expect(consoleTailArgv('/d/a.console.log', CONSOLE_TAIL_MAX).slice(3)).toEqual(['console-tail', '/d/a.console.log', String(1 << 20)]);
    expect(() => consoleTailArgv('/d/a.console.log', CONSOLE_TAIL_MAX + 1)).toThrow(InvalidArgumentError);
    expect(() => consoleTailArgv('/d/a.console.log', 0)).toThrow(InvalidArgumentError);
    expect(() => consoleTailArgv('/d/../etc/shadow', 10)).toThrow(InvalidArgumentError);
  });

  describe('the console-tail script, run by sh here', () => {
    const dir = mkdtempSync(join(tmpdir(), 'console-tail-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const run = (path: string, n: number) => {
      const [cmd, ...args] = consoleTailArgv(path, n);
      return parseConsoleTail(execFileSync(cmd as string, args, { encoding: 'utf8' }));
    };

    it('gives the last bytes of the log, and null for a VM without one', () => {
      const log = join(dir, 'vm.console.log');
      writeFileSync(log, 'first line\nCloud-init v. 22.4.2 finished at Sat\n');
      expect(run(log, 12)).toEqual({ source: 'current', text: 'shed at Sat\n' });
      expect(run(log, 1000)?.text).toBe('first line\nCloud-init v. 22.4.2 finished at Sat\n');
      expect(run(join(dir, 'none.console.log'), 10)).toBeNull();
    });

    it('a first line that is neither is a ParseError', () => {
      expect(() => parseConsoleTail('weird\n')).toThrow(ParseError);
    });
  });
});

describe('the guest-status script, run by sh here with a virsh that records when it runs', () => {
  it('asks at most 8 VMs at once, and still reports every VM in order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'guest-status-'));
    try {
      // Each call logs its start and end (ns) and takes 50 ms; domstate says running, domifaddr nothing.
      writeFileSync(
        join(dir, 'virsh'),
        `#!/bin/sh\necho "s $(date +%s%N)" >>"${dir}/log"\nsleep 0.05\ncase "$*" in *domstate*) echo running ;; esac\necho "e $(date +%s%N)" >>"${dir}/log"\n`,
        { mode: 0o755 },
      );
      const names = Array.from({ length: 20 }, (_, i) => `vm-${i}`);
      const B = 'c'.repeat(32);
      const [cmd, ...args] = guestStatusArgv(
        'qemu:///system',
        B,
        names.map((name) => ({ name, agent: false })),
        2,
      );
      const out = execFileSync(cmd as string, args, { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
      expect([...parseGuestStatus(out, B).keys()]).toEqual(names);
      const events = readFileSync(join(dir, 'log'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' '))
        .map(([k, t]) => [BigInt(t ?? '0'), k === 's' ? 1 : -1] as const)
        .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
      let now = 0;
      let most = 0;
      for (const [, d] of events) {
        now += d;
        most = Math.max(most, now);
      }
      expect(events.length).toBe(20 * 3 * 2); // domstate, lease and arp for each VM
      expect(most).toBeLessThanOrEqual(8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
