/** `POST /v1/vms/{region}/{name}/snapshots/{snapshot}/revert` (a `snapshot-revert` job). */
import { CallbackBody, SnapshotPath } from '@provisioner/contracts/api';
import { accepted } from '../../answers.ts';
import { withCallback } from '../../callbacks.ts';
import { callerOwner } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { submitSnapshotOp } from '../../services/snapshots.ts';
import { pathTarget, VM_OP } from '../vms/operate.ts';

export default defineRoute({
  ...VM_OP,
  method: 'post',
  path: '/v1/vms/{region}/{name}/snapshots/{snapshot}/revert',
  job: 'snapshot-revert',
  summary: 'Revert a VM to a snapshot',
  description:
    'Queues a `snapshot-revert` job (steps check, revert, set-tags): the disk, the definition saved with the snapshot and its power state (a running snapshot resumes running, with its memory) come back; the VM’s current tags are put back on after. 409 when the snapshot was taken with another instance type (before a resize).',
  errors: ['NOT_FOUND', 'VALIDATION', 'CONFLICT'],
  request: { params: SnapshotPath, body: CallbackBody, bodyOptional: true },
  handler: async (c, s, { params, body: b }) =>
    accepted(c, await submitSnapshotOp(s, pathTarget(params), 'snapshot-revert', params.snapshot, withCallback(s, c, b), callerOwner(c))),
});
