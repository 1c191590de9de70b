/** Rebuilding a VM: checks the image, the user-data and the VM's snapshots, then queues the rebuild. */
import type { Job } from 'bullmq';
import type { Requester } from '../caller.ts';
import type { Services } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { VmItem } from '../inventory.ts';
import { decodeUserData, findImage } from '../validation.ts';
import { submitVmOp, type Target, type VmOp } from './operate-vm.ts';

export interface RebuildRequest {
  /** A catalog image; absent: the VM's current one. */
  image?: string | undefined;
  /** base64 of one cloud-init YAML document; absent: the VM keeps its seed (its user-data). */
  user_data?: string | null | undefined;
  force: boolean;
  timeout_ms: number;
  delete_snapshots: boolean;
}

/** The VM's snapshot names as the inventory knows them (filled in by the workers' listing, when it has them). */
function snapshotNames(vm: VmItem | null): string[] {
  const list = (vm as { snapshots?: unknown } | null)?.snapshots;
  if (!Array.isArray(list)) return [];
  return list.map((x: unknown) => (x && typeof x === 'object' && 'name' in x ? String((x as { name: unknown }).name) : String(x)));
}

/**
 * Queues a rebuild of the path's VM. 422 for an image not in the catalog (or, with none named, a VM whose
 * image is unknown or no longer in it) and for user-data create would refuse; 409 when the VM has snapshots
 * and the body does not say `delete_snapshots: true` (the worker checks the host again).
 */
export async function submitRebuild(s: Services, t: Target, r: RebuildRequest, by: Requester, owner: string | null): Promise<Job> {
  const userData = decodeUserData(r.user_data);
  const named = r.image !== undefined ? findImage(s.config, r.image) : null;
  const op: Extract<VmOp, { kind: 'rebuild' }> = {
    kind: 'rebuild',
    image: named ?? { name: '', url: '' },
    user_data: userData,
    force: r.force,
    timeout_ms: r.timeout_ms,
    delete_snapshots: r.delete_snapshots,
  };
  return submitVmOp(s, { target: t, op, by, where: 'path', owner }, async ({ vm }) => {
    if (!named) {
      if (!vm?.image) {
        throw new ApiError('VALIDATION', 'the VM’s image is not known (yet): name one in image', {
          details: [{ path: 'image', message: 'required for this VM' }],
        });
      }
      // Refused like a named image that is not in the catalog (the 422 lists the catalog's images).
      op.image = findImage(s.config, vm.image);
    }
    const snapshots = snapshotNames(vm);
    if (snapshots.length > 0 && !r.delete_snapshots) {
      throw new ApiError(
        'CONFLICT',
        `the VM has snapshots (${snapshots.join(', ')}) that live in the disk a rebuild replaces: send delete_snapshots: true to delete them`,
        { details: { reason: 'snapshots', snapshots } },
      );
    }
    return async () => undefined;
  });
}
