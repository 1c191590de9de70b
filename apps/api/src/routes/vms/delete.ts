/** `DELETE /v1/vms/{region}/{name}`. */
import { CallbackBody } from '@provisioner/contracts/api';
import { defineRoute } from '../../route.ts';
import { submitOp, VM_OP, VmPath } from './operate.ts';

export default defineRoute({
  ...VM_OP,
  method: 'delete',
  path: '/v1/vms/{region}/{name}',
  job: 'delete',
  summary: 'Delete a VM and its disks',
  request: { params: VmPath, body: CallbackBody, bodyOptional: true },
  handler: (c, s, { params, body }) => submitOp(s, c, params, { kind: 'delete' }, body),
});
