/** `POST /v1/vms/{region}/{name}/reboot`. */
import { z } from 'zod';
import { CallbackBody } from '../../callbacks.ts';
import { defineRoute } from '../../route.ts';
import { MAX_TIMEOUT_MS, submitOp, VM_OP, VmPath } from './operate.ts';

export const RebootBody = CallbackBody.extend({ timeout_ms: z.number().int().positive().max(MAX_TIMEOUT_MS).optional() });

export default defineRoute({
  ...VM_OP,
  method: 'post',
  path: '/v1/vms/{region}/{name}/reboot',
  summary: 'Reboot a VM',
  request: { params: VmPath, body: RebootBody, bodyOptional: true },
  handler: (c, s, b) => submitOp(s, c, { kind: 'reboot', timeout_ms: b.timeout_ms ?? s.config.worker.stop_timeout_ms }, b),
});
