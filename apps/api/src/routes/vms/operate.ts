/**
 * What the operations on one VM (start, stop, reboot, tags, delete) share: the VM named by the path,
 * the documented 202 with the job, and the submission.
 */
import { JobView, VmPath } from '@provisioner/contracts/api';
import type { Context } from 'hono';
import { accepted } from '../../answers.ts';
import { withCallback } from '../../callbacks.ts';
import { callerOwner } from '../../caller.ts';
import type { AppEnv, Services } from '../../context.ts';
import type { Route } from '../../route.ts';
import { ACCEPTED_HEADERS } from '../../schemas.ts';
import { submitVmOp, type Target, type VmOp } from '../../services/operate-vm.ts';

/** The VM a path names (its parameters validated by VmPath). */
export function pathTarget(p: VmPath): Target {
  return { region: p.region, vm_name: p.name };
}

/** Queues `op` on the path's VM and answers 202 with its job. */
export async function submitOp(s: Services, c: Context<AppEnv>, p: VmPath, op: VmOp, cb: Parameters<typeof withCallback>[2]): Promise<Response> {
  return accepted(c, await submitVmOp(s, { target: pathTarget(p), op, by: withCallback(s, c, cb), where: 'path', owner: callerOwner(c) }));
}

/** The documentation every operation on a VM shares. */
export const VM_OP = {
  tag: 'vms',
  auth: 'write',
  needsRedis: true,
  responses: { 202: { description: 'Accepted: the job that does it', schema: JobView, headers: ACCEPTED_HEADERS } },
  errors: ['NOT_FOUND', 'VALIDATION'],
} as const satisfies Partial<Route>;

export { VmPath };
