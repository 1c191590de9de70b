/**
 * What the replaced service's operation routes share (docs/legacy-api.md): their bodies, with its
 * leniency (fields it did not know are ignored, i.e. stripped, as it ignored them; the new routes'
 * schemas are strict), and the submit-and-wait.
 */
import { TagsSchema, VmNameSchema } from '@provisioner/contracts';
import type { Context } from 'hono';
import { z } from 'zod';
import { awaitOutcome } from '../../answers.ts';
import { callerOwner, requester } from '../../caller.ts';
import type { AppEnv, Services } from '../../context.ts';
import type { Route } from '../../route.ts';
import { LegacySuccess } from '../../schemas.ts';
import { submitVmOp, type VmOp } from '../../services/operate-vm.ts';

export const LegacyTarget = z.object({
  vm_name: VmNameSchema.meta({ example: 'amber-otter' }),
  region_name: z.string().max(63).meta({ example: 'local' }),
});
export const LegacyEditTags = LegacyTarget.extend({ tags: TagsSchema.meta({ example: { owner: 'alice', description: 'demo box' } }) });

/** Submits an operation on the VM a legacy body names and waits for the outcome. */
export async function legacyOp(s: Services, c: Context<AppEnv>, b: z.infer<typeof LegacyTarget>, op: VmOp): Promise<Response> {
  const job = await submitVmOp(s, { target: { region: b.region_name, vm_name: b.vm_name }, op, by: requester(c), where: 'body', owner: callerOwner(c) });
  return awaitOutcome(s, c, job, s.config.legacy_wait_ms);
}

/** The documentation the legacy operations share. */
export const LEGACY_OP = {
  tag: 'legacy',
  auth: 'write',
  needsRedis: true,
  ignoresQuery: true,
  errors: ['NOT_FOUND', 'VALIDATION', 'CONFLICT', 'JOB_FAILED', 'TIMEOUT'],
} as const satisfies Partial<Route>;

export { LegacySuccess };
