/**
 * Snapshots of a VM: what the API checks before it queues a snapshot job (from the inventory, which the
 * workers patch after every operation), and the listing. The worker checks the host again when it runs.
 */
import { SnapshotNameSchema } from '@provisioner/contracts';
import type { Job } from 'bullmq';
import type { Requester } from '../caller.ts';
import type { Services } from '../context.ts';
import { ApiError, snapshotNotFound, vmNotFound } from '../errors.ts';
import type { SnapshotItem, VmItem } from '../inventory.ts';
import { resolveTarget, submitVmOp, type Target, vmOwner } from './operate-vm.ts';

export type SnapshotOp = 'snapshot-create' | 'snapshot-revert' | 'snapshot-delete';

/** A snapshot named in a path or body: 422 unless it follows the VM names' rule. */
export function snapshotName(name: string): string {
  const r = SnapshotNameSchema.safeParse(name);
  if (!r.success) {
    const rule = r.error.issues[0]?.message ?? 'must be a lowercase DNS label';
    throw new ApiError('VALIDATION', `the snapshot name ${rule}`, { details: [{ path: 'name', message: rule }] });
  }
  return r.data;
}

/** Why the op may not be queued for this VM as the inventory knows it (409/404), checked before anything is queued. */
function refusal(s: Services, region: string, op: SnapshotOp, snapshot: string, vm: VmItem | null): ApiError | null {
  // A VM whose create has not run yet has no snapshots: only a create may be queued (it waits its turn).
  const list = vm?.snapshots ?? [];
  const found = list.find((x) => x.name === snapshot);
  if (op === 'snapshot-create') {
    if (found) return new ApiError('CONFLICT', `VM ${region}/${vm?.vm_name} already has a snapshot named ${snapshot}`);
    const cap = s.config.regions.find((r) => r.region_name === region)?.max_snapshots_per_vm;
    if (cap !== undefined && list.length >= cap)
      return new ApiError('CONFLICT', `the VM has ${list.length} snapshots, the region's limit (max_snapshots_per_vm ${cap}): delete one first`);
    return null;
  }
  if (!found) return snapshotNotFound(region, vm?.vm_name ?? '', snapshot);
  if (op === 'snapshot-revert' && vm && found.instance_type !== vm.instance_type)
    return new ApiError(
      'CONFLICT',
      `snapshot '${snapshot}' was taken with instance type ${found.instance_type ?? 'unknown'} and the VM is now ${vm.instance_type ?? 'unknown'} (resized since): reverting would shrink it`,
    );
  return null;
}

/** Queues a snapshot job on the VM (per-VM ordering, owner scoping, Idempotency-Key: submitVmOp's). */
export function submitSnapshotOp(s: Services, t: Target, op: SnapshotOp, snapshot: string, by: Requester, owner: string | null): Promise<Job> {
  const name = snapshotName(snapshot);
  return submitVmOp(s, { target: t, op: { kind: op, snapshot: name }, by, where: 'path', owner }, async (loc) => {
    const why = refusal(s, t.region, op, name, loc.vm);
    if (why) throw why;
    return async () => undefined;
  });
}

/** The VM's snapshots as the inventory knows them; 404 when no host knows the VM or it is not the caller's. */
export async function listSnapshots(s: Services, t: Target, owner: string | null): Promise<SnapshotItem[]> {
  const region = resolveTarget(s, t, 'path');
  const loc = await s.inventory.locate(region, t.vm_name);
  if (!loc) throw vmNotFound(region.region_name, t.vm_name);
  if (owner !== null && (await vmOwner(s, region.region_name, t.vm_name, loc.vm)) !== owner) throw vmNotFound(region.region_name, t.vm_name);
  return loc.vm?.snapshots ?? [];
}
