/** `POST /v1/vms/{region}/{name}/stop`: shutdown, then power off after timeout_ms; or at once with force. */
import { z } from 'zod';
import { CallbackBody } from '../../callbacks.ts';
import { defineRoute } from '../../route.ts';
import { MAX_TIMEOUT_MS, submitOp, VM_OP, VmPath } from './operate.ts';

export const StopBody = CallbackBody.extend({
  /** Power off at once instead of asking the guest to shut down. */
  force: z.boolean().default(false),
  /** How long the guest gets to shut down before it is powered off (default: worker.stop_timeout_ms). */
  timeout_ms: z.number().int().positive().max(MAX_TIMEOUT_MS).optional(),
});

export default defineRoute({
  ...VM_OP,
  method: 'post',
  path: '/v1/vms/{region}/{name}/stop',
  summary: 'Stop a VM (shutdown, then power off after timeout_ms; or at once with force)',
  request: { params: VmPath, body: StopBody, bodyOptional: true },
  handler: (c, s, b) => submitOp(s, c, { kind: 'stop', force: b.force, timeout_ms: b.timeout_ms ?? s.config.worker.stop_timeout_ms }, b),
});
