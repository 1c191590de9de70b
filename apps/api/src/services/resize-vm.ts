/**
 * Resizing a VM: checks the new instance type against the region and the VM's current one, and has
 * admission reserve the extra room on the VM's host before the job is queued, so concurrent creates and
 * resizes never count the same room twice.
 */
import type { PendingCreate } from '@provisioner/contracts';
import type { Job } from 'bullmq';
import { reserve } from '../admission/reserve.ts';
import type { Requester } from '../caller.ts';
import type { Services } from '../context.ts';
import { ApiError } from '../errors.ts';
import { findInstanceType } from '../validation.ts';
import { resolveTarget, submitVmOp, type Target } from './operate-vm.ts';

export interface ResizeRequest {
  instance_type: string;
  force: boolean;
  timeout_ms: number;
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
    const { release } = await reserve(s, { kind: 'resize', region, host, vm_name: vm.vm_name, instance_type: type.instance_type, delta });
    return release;
  });
}
