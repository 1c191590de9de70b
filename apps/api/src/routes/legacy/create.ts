/** `POST /v1/create` (legacy): validates and submits as `POST /v1/vms` does, then waits for the outcome. */
import { CreateBody } from '@provisioner/contracts/api';
import { z } from 'zod';
import { awaitOutcome } from '../../answers.ts';
import { callerOwner, requester } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { LegacySuccess } from '../../schemas.ts';
import { submitCreate } from '../../services/create-vm.ts';

// The replaced service's body: the new create's fields without `webhook_url` and `host` (never read
// here), lenient as it was: unknown fields are stripped, not refused.
export const LegacyCreateBody = z.object(
  CreateBody.pick({ vm_name: true, region_name: true, instance_type: true, image: true, tags: true, user_data: true }).shape,
);

export default defineRoute({
  method: 'post',
  path: '/v1/create',
  tag: 'legacy',
  summary: 'Create a VM and wait (legacy)',
  auth: 'write',
  needsRedis: true,
  request: { body: LegacyCreateBody },
  responses: { 200: { description: 'Created', schema: LegacySuccess } },
  errors: ['CONFLICT', 'VALIDATION', 'NOT_FOUND', 'JOB_FAILED', 'TIMEOUT'],
  ignoresQuery: true,
  handler: async (c, s, { body: b }) => awaitOutcome(s, c, await submitCreate(s, b, requester(c), callerOwner(c)), s.config.legacy_create_wait_ms),
});
