/** `DELETE /v1/vms/{region}/{name}/snapshots/{snapshot}` (a `snapshot-delete` job). */
import { CallbackBody, SnapshotPath } from '@provisioner/contracts/api';
import { accepted } from '../../answers.ts';
import { withCallback } from '../../callbacks.ts';
import { callerOwner } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { submitSnapshotOp } from '../../services/snapshots.ts';
import { pathTarget, VM_OP } from '../vms/operate.ts';

export default defineRoute({
  ...VM_OP,
  method: 'delete',
  path: '/v1/vms/{region}/{name}/snapshots/{snapshot}',
  job: 'snapshot-delete',
  summary: 'Delete a snapshot of a VM',
  description: 'Queues a `snapshot-delete` job (step delete-snapshot); the VM itself is not touched.',
  request: { params: SnapshotPath, body: CallbackBody, bodyOptional: true },
  handler: async (c, s, { params, body: b }) =>
    accepted(c, await submitSnapshotOp(s, pathTarget(params), 'snapshot-delete', params.snapshot, withCallback(s, c, b), callerOwner(c))),
});
