/** `POST /v1/vms/{region}/{name}/snapshots`: takes a snapshot of the VM (a `snapshot-create` job). */
import { SnapshotBody } from '@provisioner/contracts/api';
import { accepted } from '../../answers.ts';
import { withCallback } from '../../callbacks.ts';
import { callerOwner } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { submitSnapshotOp } from '../../services/snapshots.ts';
import { pathTarget, VM_OP, VmPath } from '../vms/operate.ts';

export default defineRoute({
  ...VM_OP,
  method: 'post',
  path: '/v1/vms/{region}/{name}/snapshots',
  job: 'snapshot-create',
  summary: 'Take a snapshot of a VM (running or stopped)',
  description:
    'Queues a `snapshot-create` job (step snapshot): an internal snapshot in the VM’s disk, with its memory when it runs (the cloud-init seed is left out). 409 when the VM has a snapshot of that name or the region’s `max_snapshots_per_vm`.',
  errors: ['NOT_FOUND', 'VALIDATION', 'CONFLICT'],
  request: { params: VmPath, body: SnapshotBody },
  handler: async (c, s, { params, body: b }) =>
    accepted(c, await submitSnapshotOp(s, pathTarget(params), 'snapshot-create', b.name, withCallback(s, c, b), callerOwner(c))),
});
