/** `POST /v1/vms/{region}/{name}/rebuild`: a fresh disk on a catalog image, the VM's definition (name, MAC, tags, type) kept. */
import { RebuildBody } from '@provisioner/contracts/api';
import { accepted } from '../../answers.ts';
import { withCallback } from '../../callbacks.ts';
import { callerOwner } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { submitRebuild } from '../../services/rebuild-vm.ts';
import { pathTarget, VM_OP, VmPath } from './operate.ts';

export default defineRoute({
  ...VM_OP,
  method: 'post',
  path: '/v1/vms/{region}/{name}/rebuild',
  job: 'rebuild',
  summary: 'Rebuild a VM: a fresh disk on an image (and a new seed with user_data); name, UUID, MAC, tags and type stay, and so does its power state',
  description:
    'Queues a `rebuild` job (steps fetch-image, create-disk, create-seed, stop, [delete-snapshots,] swap, start). The new disk is made beside the old one and renamed over it once the VM is stopped: a failure before that leaves the VM as it was, and the error says so. 409 when the VM has snapshots and `delete_snapshots` is not true.',
  errors: ['NOT_FOUND', 'VALIDATION', 'CONFLICT'],
  request: { params: VmPath, body: RebuildBody, bodyOptional: true },
  handler: async (c, s, { params, body: b }) =>
    accepted(
      c,
      await submitRebuild(
        s,
        pathTarget(params),
        { image: b.image, user_data: b.user_data, force: b.force, timeout_ms: s.config.worker.stop_timeout_ms, delete_snapshots: b.delete_snapshots },
        withCallback(s, c, b),
        callerOwner(c),
      ),
    ),
});
