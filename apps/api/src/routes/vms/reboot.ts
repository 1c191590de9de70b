/** `POST /v1/vms/{region}/{name}/reboot`. */
import { RebootBody } from '@provisioner/contracts/api';
import { defineRoute } from '../../route.ts';
import { submitOp, VM_OP, VmPath } from './operate.ts';

export default defineRoute({
  ...VM_OP,
  method: 'post',
  path: '/v1/vms/{region}/{name}/reboot',
  job: 'reboot',
  summary: 'Reboot a VM',
  request: { params: VmPath, body: RebootBody, bodyOptional: true },
  handler: (c, s, { params, body: b }) => submitOp(s, c, params, { kind: 'reboot', timeout_ms: b.timeout_ms ?? s.config.worker.stop_timeout_ms }, b),
});
