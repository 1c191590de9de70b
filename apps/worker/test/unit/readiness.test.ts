import type { GuestStatus } from '@provisioner/libvirt';
import { describe, expect, it } from 'vitest';
import { consoleSaysFinished, needsConsole, readiness } from '../../src/readiness.ts';

const CONSOLE = 'GET /v1/vms/r1/vm1/console';
const lease = { ip: '192.168.122.5', family: 'ipv4' as const, mac: '52:54:00:00:00:01', source: 'lease' as const };
const running = (over: Partial<GuestStatus> = {}): GuestStatus => ({ state: 'running', agent: 'connected', cloud_init: 'done', addresses: [lease], ...over });

describe('readiness of a create that waits for its guest', () => {
  it('is ready when cloud-init is done and an address is known, or done without a NIC', () => {
    expect(readiness(running(), true, CONSOLE)).toEqual({ kind: 'ready' });
    expect(readiness(running({ addresses: [] }), false, CONSOLE)).toEqual({ kind: 'ready' });
  });

  it('waits, saying for what, while cloud-init runs or the address is missing', () => {
    expect(readiness(running({ cloud_init: 'running' }), true, CONSOLE)).toEqual({
      kind: 'wait',
      detail: 'waiting for cloud-init (running); agent connected; address: 192.168.122.5',
    });
    expect(readiness(running({ addresses: [] }), true, CONSOLE)).toEqual({ kind: 'wait', detail: 'waiting for an address; agent connected; no address yet' });
    expect(readiness(running({ agent: 'absent', cloud_init: 'unknown', addresses: [] }), true, CONSOLE)).toEqual({
      kind: 'wait',
      detail: 'waiting for cloud-init (unknown); agent absent; no address yet',
    });
  });

  it('fails GUEST_CLOUD_INIT_ERROR with the errors (bounded) and where to look', () => {
    const r = readiness(running({ cloud_init: 'error', cloud_init_errors: ['module x failed', 'y'.repeat(2000)] }), true, CONSOLE);
    expect(r).toMatchObject({ kind: 'fail', code: 'GUEST_CLOUD_INIT_ERROR' });
    const message = (r as { message: string }).message;
    expect(message).toContain('cloud-init reported errors: module x failed; y');
    expect(message).toContain(CONSOLE);
    expect(message.length).toBeLessThan(800);
  });

  it('fails GUEST_NOT_READY when the VM is gone or stopped', () => {
    expect(readiness(undefined, true, CONSOLE)).toMatchObject({ kind: 'fail', code: 'GUEST_NOT_READY' });
    expect(readiness(running({ state: null }), true, CONSOLE)).toMatchObject({
      kind: 'fail',
      code: 'GUEST_NOT_READY',
      message: 'the VM no longer exists on its host',
    });
    const off = readiness(running({ state: 'shut off', agent: 'absent', cloud_init: 'unknown' }), true, CONSOLE);
    expect(off).toMatchObject({ kind: 'fail', code: 'GUEST_NOT_READY' });
    expect((off as { message: string }).message).toBe(`the VM is shut off: it stopped before its guest was ready; see ${CONSOLE}`);
  });

  it('keeps waiting while the VM is paused or suspended to RAM, saying so: it has not stopped', () => {
    for (const state of ['paused', 'pmsuspended']) {
      const r = readiness(running({ state, agent: 'absent', cloud_init: 'unknown', addresses: [] }), true, CONSOLE);
      expect(r).toEqual({ kind: 'wait', detail: `waiting for the VM to run again: it is ${state}` });
    }
    for (const state of ['in shutdown', 'crashed'])
      expect(readiness(running({ state }), true, CONSOLE)).toMatchObject({ kind: 'fail', code: 'GUEST_NOT_READY' });
  });

  it('reads the console only for a running VM whose cloud-init state nobody reported', () => {
    expect(needsConsole(running({ agent: 'absent', cloud_init: 'unknown' }))).toBe(true);
    expect(needsConsole(running({ cloud_init: 'running' }))).toBe(false);
    expect(needsConsole(running({ state: 'shut off', cloud_init: 'unknown' }))).toBe(false);
    expect(needsConsole(undefined)).toBe(false);
  });

  it("finds cloud-init's finished line on the console, not its earlier stages", () => {
    // Lines as the Debian 12 guest image prints them on ttyS0.
    const boot = "[   12.3] cloud-init[512]: Cloud-init v. 22.4.2 running 'modules:final' at Mon, 01 Jan 2024 00:00:10 +0000. Up 12.01 seconds.\n";
    expect(consoleSaysFinished(boot)).toBe(false);
    const done = `${boot}[   13.0] cloud-init[512]: Cloud-init v. 22.4.2 finished at Mon, 01 Jan 2024 00:00:11 +0000. Datasource DataSourceNoCloud [seed=/dev/vdb][dsmode=net].  Up 12.94 seconds\n`;
    expect(consoleSaysFinished(done)).toBe(true);
  });
});
