/**
 * Resizing a VM: checks the new instance type against the region and the VM's current one, and reserves
 * the extra room on the VM's host in placement's one atomic step (VmLedger.reserveResize) before the job
 * is queued, so concurrent creates and resizes never count the same room twice.
 */
import type { PendingCreate, PendingTotals } from '@provisioner/contracts';
import type { Job } from 'bullmq';
import type { Requester } from '../caller.ts';
import type { Services } from '../context.ts';
import { ApiError, vmNotFound } from '../errors.ts';
import { withRegionLock } from '../limits.ts';
import { type HostState, hostCapacity, pendingLimits } from '../placement.ts';
import { findInstanceType } from '../validation.ts';
import { resolveTarget, submitVmOp, type Target } from './operate-vm.ts';

export interface ResizeRequest {
  instance_type: string;
  force: boolean;
  timeout_ms: number;
}

/** Why the extra room does not fit on the host, in placement's words. */
function noRoomText(field: keyof PendingTotals, delta: PendingCreate, s: HostState, services: Services): string {
  const c = hostCapacity(s, services.config.placement);
  const free = (total: number | null, used: number) => (total === null ? 'unknown' : String(Math.max(0, total - used)));
  if (field === 'vcpus') return `needs ${delta.vcpus} more vCPUs, ${free(c.vcpus_total, c.vcpus_used)} of ${c.vcpus_total} free`;
  if (field === 'memory_mb') return `needs ${delta.memory_mb} MiB more memory, ${free(c.memory_mb_total, c.memory_mb_used)} of ${c.memory_mb_total} free`;
  if (field === 'storage_mb') return `needs ${delta.storage_mb} MiB more disk, ${Math.max(0, c.disk_free_mb ?? 0)} free`;
  return `at its cap of ${c.max_vms} VMs`;
}

/**
 * Queues a resize of the path's VM to `req.instance_type`. 422 for a type the region does not have
 * (listing its types); 409 for a smaller disk than the VM's type has (disks only grow), for the type it
 * already is, for a resize already queued, and when the VM's host has no room for the extra vCPUs, memory
 * or disk (the reason in `details`). Nothing is queued then.
 */
export async function submitResize(s: Services, t: Target, req: ResizeRequest, by: Requester, owner: string | null): Promise<Job> {
  const region = resolveTarget(s, t, 'path');
  const type = findInstanceType(region, req.instance_type);
  const op = {
    kind: 'resize' as const,
    instance_type: type.instance_type,
    vcpus: type.vcpus,
    memory_mb: type.memory_mb,
    storage_mb: type.storage_mb,
    force: req.force,
    timeout_ms: req.timeout_ms,
  };
  return submitVmOp(s, { target: t, op, by, where: 'path', owner }, async ({ host, vm }) => {
    if (!vm) throw new ApiError('CONFLICT', 'the VM is not created yet: resize it once its create has run');
    if (!vm.managed) throw new ApiError('CONFLICT', 'the VM was not created by this service: it has no instance type to change');
    if (vm.instance_type === type.instance_type) throw new ApiError('CONFLICT', `the VM is a ${type.instance_type} already`);
    const old = region.available_instance_types.find((i) => i.instance_type === vm.instance_type);
    if (old && type.storage_mb < old.storage_mb) {
      throw new ApiError(
        'CONFLICT',
        `disks only grow: ${type.instance_type} has ${type.storage_mb} MiB of storage, less than the ${old.storage_mb} MiB of the VM's ${old.instance_type}`,
        {
          details: {
            reason: 'shrink',
            instance_type: type.instance_type,
            storage_mb: type.storage_mb,
            current: old.instance_type,
            current_storage_mb: old.storage_mb,
          },
        },
      );
    }
    // What the new type needs beyond what the host's inventory counts for the VM now (its disk by its
    // old type; a VM of an unknown type counts the whole new disk).
    const delta: PendingCreate = {
      vcpus: type.vcpus - (vm.vcpus ?? 0),
      memory_mb: type.memory_mb - (vm.memory_mb ?? 0),
      storage_mb: type.storage_mb - (old?.storage_mb ?? 0),
    };
    const attempt = async (exact: boolean) => {
      const { states } = await s.placer.hostStates(region, { pin: host, exact });
      const state = states[0] as HostState;
      const r = await s.ledger.reserveResize(region.region_name, host, vm.vm_name, delta, pendingLimits(state, s.config.placement));
      return { r, state };
    };
    // The running totals first; when they say no room, once more with the host's pending entries swept
    // (they may still count creates that are listed or canceled), under the region's lock like a create.
    let { r, state } = await attempt(false);
    if (!r.ok && r.reason === 'full') ({ r, state } = await withRegionLock(s, region, () => attempt(true)));
    if (r.ok) return () => s.ledger.releaseResize(region.region_name, host, vm.vm_name);
    if (r.reason === 'busy') throw new ApiError('CONFLICT', 'a resize of this VM is queued already');
    if (r.reason === 'gone') throw vmNotFound(region.region_name, t.vm_name);
    const why = noRoomText('field' in r ? r.field : 'n', delta, state, s);
    throw new ApiError('CONFLICT', `host ${region.region_name}/${host} has no room to resize the VM to ${type.instance_type}: ${why}`, {
      details: { reason: 'capacity', region: region.region_name, host, instance_type: type.instance_type, why },
    });
  });
}
