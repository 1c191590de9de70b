/** `POST /v1/vms/{region}/{name}/start`. */
import { CallbackBody } from '@provisioner/contracts/api';
import { defineRoute } from '../../route.ts';
import { submitOp, VM_OP, VmPath } from './operate.ts';

export default defineRoute({
  ...VM_OP,
  method: 'post',
  path: '/v1/vms/{region}/{name}/start',
  job: 'start',
  summary: 'Start a VM',
  request: { params: VmPath, body: CallbackBody, bodyOptional: true },
  handler: (c, s, { params, body }) => submitOp(s, c, params, { kind: 'start' }, body),
});
