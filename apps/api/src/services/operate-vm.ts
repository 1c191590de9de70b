/** Operating on an existing VM: finds its host and owner, and queues the operation there. */
import { VM_NAME_RULE, VmNameSchema } from '@provisioner/contracts';
import type { Job } from 'bullmq';
import type { Requester } from '../caller.ts';
import type { Services } from '../context.ts';
import { ApiError, vmNotFound } from '../errors.ts';
import type { VmItem } from '../inventory.ts';
import { findRegion } from '../validation.ts';

/**
 * The `owner` tag of a VM: from the inventory, or, while its create has not run yet, from that create.
 * Undefined when it has none.
 */
export async function vmOwner(s: Services, region: string, name: string, vm: VmItem | null): Promise<string | undefined> {
  if (vm) return vm.tags.owner;
  for (const id of await s.ledger.line(region, name)) {
    const data = (await s.queues.find(id))?.job.data as { kind?: string; tags?: Record<string, string> } | undefined;
    if (data?.kind === 'create') return data.tags?.owner;
  }
  return undefined;
}

/** An operation on an existing VM, as the routes describe it (seq, host and requester added here). */
export type VmOp =
  | { kind: 'start' }
  | { kind: 'stop'; force: boolean; timeout_ms: number }
  | { kind: 'reboot'; timeout_ms: number }
  | { kind: 'delete' }
  | { kind: 'edit-tags'; tags: Record<string, string> }
  | { kind: 'resize'; instance_type: string; vcpus: number; memory_mb: number; storage_mb: number; force: boolean; timeout_ms: number }
  | {
      kind: 'rebuild';
      image: { name: string; url: string; sha256?: string };
      user_data: string | null;
      force: boolean;
      timeout_ms: number;
      delete_snapshots: boolean;
    }
  | { kind: 'snapshot-create' | 'snapshot-revert' | 'snapshot-delete'; snapshot: string };

/**
 * Called once the VM is found and the caller may act on it, before anything is queued: may refuse (throw)
 * or reserve something, returning how to undo it should the job not be queued after all.
 */
export type BeforeSubmit = (loc: { host: string; vm: VmItem | null }) => Promise<() => Promise<void>>;

export interface Target {
  region: string;
  vm_name: string;
}

/** Checks a target named in a body (422 when unknown) or a path (404). */
export function resolveTarget(s: Services, t: Target, where: 'body' | 'path') {
  const region = findRegion(s.config, t.region, where === 'body' ? 'VALIDATION' : 'NOT_FOUND');
  const r = VmNameSchema.safeParse(t.vm_name);
  if (!r.success) throw new ApiError('VALIDATION', `vm_name ${VM_NAME_RULE}`, { details: [{ path: 'vm_name', message: VM_NAME_RULE }] });
  return region;
}

/** An operation to queue on a VM, and how the request named it. */
export interface VmOpRequest {
  target: Target;
  op: VmOp;
  by: Requester;
  /** Where the request named the VM: an unknown region is 422 in a body, 404 in a path. */
  where: 'body' | 'path';
  /** The caller's owner binding (null or absent: none): another owner's VM is 404. */
  owner?: string | null;
  /** The VM's seq the operation was built from (If-Match); SeqMismatchError when another operation was queued since. */
  expectSeq?: number;
}

/**
 * Queues an operation on the VM's host; 404 when no host knows the VM, or it is not the owner-bound caller's.
 * `before` may refuse it or reserve something first (BeforeSubmit).
 */
export async function submitVmOp(s: Services, { target: t, op, by, where, owner = null, expectSeq }: VmOpRequest, before?: BeforeSubmit): Promise<Job> {
  const region = resolveTarget(s, t, where);
  const loc = await s.inventory.locate(region, t.vm_name);
  if (!loc) throw vmNotFound(region.region_name, t.vm_name);
  const vmOwnerTag = await vmOwner(s, region.region_name, t.vm_name, loc.vm);
  if (owner !== null && vmOwnerTag !== owner) throw vmNotFound(region.region_name, t.vm_name);
  const jobOwner = op.kind === 'edit-tags' ? (op.tags.owner ?? vmOwnerTag) : vmOwnerTag;
  const undo = await before?.(loc);
  try {
    return await s.queues.submit(
      {
        ...op,
        region: region.region_name,
        host: loc.host,
        vm_name: t.vm_name,
        ...by,
        ...(jobOwner !== undefined ? { owner: jobOwner } : {}),
      },
      expectSeq !== undefined ? { expectSeq } : {},
    );
  } catch (e) {
    await undo?.().catch(() => undefined);
    throw e;
  }
}
