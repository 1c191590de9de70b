/**
 * When a create with `wait_until: ready` is done waiting: pure decisions over what the host said about the
 * guest (Hypervisor.guestStatus) and, where no agent reports cloud-init, its serial console.
 */
import type { JobErrorCode } from '@provisioner/contracts';
import type { GuestStatus } from '@provisioner/libvirt';

export type Readiness =
  | { kind: 'ready' }
  | { kind: 'wait'; detail: string }
  | { kind: 'fail'; code: Extract<JobErrorCode, 'GUEST_NOT_READY' | 'GUEST_CLOUD_INIT_ERROR'>; message: string };

/** cloud-init's last words of a boot on the console: `Cloud-init v. 22.4.2 finished at Thu, …`. */
const FINISHED_RE = /Cloud-init v\. \S+ finished at /;
const MAX_ERRORS_TEXT = 600;

/** Whether the console shows cloud-init finished (the fallback when no agent reports its result). */
export function consoleSaysFinished(text: string): boolean {
  return FINISHED_RE.test(text);
}

/** Whether the console is worth reading: the VM runs and nothing (no agent) told cloud-init's state. */
export function needsConsole(s: GuestStatus | undefined): boolean {
  return s?.state === 'running' && s.cloud_init === 'unknown';
}

/**
 * Ready: cloud-init is done and, where the VM has a NIC, an address is known. cloud-init's errors, or a
 * VM that is gone or stopped, end the wait; anything else (a paused VM too) waits, saying for what. `console` is where the
 * client looks for why (GET …/console).
 */
export function readiness(s: GuestStatus | undefined, hasNic: boolean, console: string): Readiness {
  if (!s || s.state === null) return { kind: 'fail', code: 'GUEST_NOT_READY', message: 'the VM no longer exists on its host' };
  // Paused (virsh suspend, libvirt pausing it on an I/O error or a full disk) or suspended to RAM: not
  // stopped, its guest carries on where it was once resumed. The wait goes on, saying so; the deadline decides.
  if (s.state === 'paused' || s.state === 'pmsuspended') return { kind: 'wait', detail: `waiting for the VM to run again: it is ${s.state}` };
  if (s.state !== 'running') {
    return { kind: 'fail', code: 'GUEST_NOT_READY', message: `the VM is ${s.state}: it stopped before its guest was ready; see ${console}` };
  }
  if (s.cloud_init === 'error') {
    const errors = (s.cloud_init_errors ?? []).join('; ').slice(0, MAX_ERRORS_TEXT) || 'no error text';
    return { kind: 'fail', code: 'GUEST_CLOUD_INIT_ERROR', message: `cloud-init reported errors: ${errors}; the VM is kept: see ${console}` };
  }
  const hasAddress = s.addresses.length > 0;
  if (s.cloud_init === 'done' && (!hasNic || hasAddress)) return { kind: 'ready' };
  return { kind: 'wait', detail: waitingFor(s, hasNic) };
}

/** The step's detail: what is missing, and what is known (agent, addresses). */
export function waitingFor(s: GuestStatus, hasNic: boolean): string {
  const what = s.cloud_init !== 'done' ? `cloud-init (${s.cloud_init})` : 'an address';
  const address = !hasNic ? 'no NIC' : s.addresses.length ? `address: ${s.addresses.map((a) => a.ip).join(', ')}` : 'no address yet';
  return `waiting for ${what}; agent ${s.agent}; ${address}`;
}
