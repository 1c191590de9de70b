/** `POST /v1/vms/{region}/{name}/stop`: shutdown, then power off after timeout_ms; or at once with force. */
import { StopBody } from '@provisioner/contracts/api';
import { defineRoute } from '../../route.ts';
import { submitOp, VM_OP, VmPath } from './operate.ts';

export default defineRoute({
  ...VM_OP,
  method: 'post',
  path: '/v1/vms/{region}/{name}/stop',
  job: 'stop',
  summary: 'Stop a VM (shutdown, then power off after timeout_ms; or at once with force)',
  request: { params: VmPath, body: StopBody, bodyOptional: true },
  handler: (c, s, { params, body: b }) =>
    submitOp(s, c, params, { kind: 'stop', force: b.force, timeout_ms: b.timeout_ms ?? s.config.worker.stop_timeout_ms }, b),
});
