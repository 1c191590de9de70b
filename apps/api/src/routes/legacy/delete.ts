/**
 * `DELETE /v1/delete` (legacy), idempotent: a VM that no host knows, even after a fresh listing of its
 * region, is already deleted.
 */
import type { Job } from 'bullmq';
import { awaitOutcome } from '../../answers.ts';
import { callerOwner, requester } from '../../caller.ts';
import { ApiError } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { submitVmOp } from '../../services/operate-vm.ts';
import { findRegion } from '../../validation.ts';
import { LEGACY_OP, LegacySuccess, LegacyTarget } from './target.ts';

export default defineRoute({
  ...LEGACY_OP,
  method: 'delete',
  path: '/v1/delete',
  summary: 'Delete a VM and wait (legacy; a VM no host knows counts as deleted)',
  request: { body: LegacyTarget },
  responses: { 200: { description: 'Deleted (or already gone)', schema: LegacySuccess } },
  errors: ['VALIDATION', 'CONFLICT', 'JOB_FAILED', 'TIMEOUT'],
  handler: async (c, s, { body: b }) => {
    const t = { region: b.region_name, vm_name: b.vm_name };
    const submit = () => submitVmOp(s, { target: t, op: { kind: 'delete' }, by: requester(c), where: 'body', owner: callerOwner(c) });
    let job: Job;
    try {
      job = await submit();
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'NOT_FOUND')) throw e;
      await s.refresher.refresh([findRegion(s.config, t.region)], requester(c));
      try {
        job = await submit();
      } catch (again) {
        if (again instanceof ApiError && again.code === 'NOT_FOUND') return c.json({ message: 'Success' }, 200);
        throw again;
      }
    }
    return awaitOutcome(s, c, job, s.config.legacy_wait_ms);
  },
});
