/**
 * The replaced service's routes (docs/legacy-api.md), unchanged for its clients: same bodies, same
 * `{"message":"Success"}`, same list shape. They validate and submit exactly as the new routes do,
 * then wait for the job's outcome (bounded; 504 with the job's link when it takes longer).
 */
import { TagsSchema, VmNameSchema } from '@provisioner/contracts';
import type { Job } from 'bullmq';
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv, Services } from '../context.ts';
import { ApiError } from '../errors.ts';
import { vmItems } from '../inventory.ts';
import { awaitOutcome, callerOwner, ownedTags, requester, submitCreate, submitVmOp, type VmOp } from '../ops.ts';
import { enabledRegions, findRegion, jsonBody } from '../validation.ts';

// The replaced service's bodies, with its leniency: fields it did not know are ignored (stripped), as it
// ignored them. Separate from the new routes' schemas, which are strict.
export const LegacyTarget = z.object({ vm_name: VmNameSchema, region_name: z.string().max(63) });
export const LegacyEditTags = LegacyTarget.extend({ tags: TagsSchema });
export const LegacyCreateBody = z.object({
  vm_name: VmNameSchema,
  region_name: z.string().max(63),
  instance_type: z.string().max(64),
  image: z.string().max(128),
  tags: TagsSchema.nullish(),
  user_data: z.string().nullish(),
});

/** One entry of `GET /v1/list`: `dom_id` a string, `"-"` when the domain is not running. */
export interface LegacyListItem {
  dom_id: string;
  name: string;
  region_name: string;
  state: string;
  tags: Record<string, string>;
}

export function legacyRoutes(s: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const wait = s.config.legacy_wait_ms;

  r.post('/v1/create', async (c) => {
    const job = await submitCreate(s, await jsonBody(c, LegacyCreateBody), requester(c), callerOwner(c));
    return awaitOutcome(s, c, job, s.config.legacy_create_wait_ms);
  });

  r.get('/v1/list', async (c) => {
    const regions = enabledRegions(s.config);
    await s.inventory.refresh(regions, requester(c));
    const owner = callerOwner(c);
    const visible = vmItems(await s.inventory.entries(regions)).filter((v) => owner === null || v.tags.owner === owner);
    const list: LegacyListItem[] = visible.map((v) => ({
      dom_id: v.dom_id === null ? '-' : String(v.dom_id),
      name: v.vm_name,
      region_name: v.region_name,
      state: v.state,
      tags: v.tags,
    }));
    return c.json(list);
  });

  r.post('/v1/start', async (c) => legacyOp(s, c, await jsonBody(c, LegacyTarget), { kind: 'start' }));

  // The old /v1/stop was `virsh destroy`: keep that meaning.
  r.post('/v1/stop', async (c) => legacyOp(s, c, await jsonBody(c, LegacyTarget), { kind: 'stop', force: true, timeout_ms: s.config.worker.stop_timeout_ms }));

  r.post('/v1/edit-tags', async (c) => {
    const b = await jsonBody(c, LegacyEditTags);
    return legacyOp(s, c, b, { kind: 'edit-tags', tags: ownedTags(callerOwner(c), b.tags) });
  });

  // Idempotent: a VM that no host knows, even after a fresh listing of its region, is already deleted.
  r.delete('/v1/delete', async (c) => {
    const b = await jsonBody(c, LegacyTarget);
    const t = { region: b.region_name, vm_name: b.vm_name };
    const submit = () => submitVmOp(s, t, { kind: 'delete' }, requester(c), 'body', callerOwner(c));
    let job: Job;
    try {
      job = await submit();
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'NOT_FOUND')) throw e;
      await s.inventory.refresh([findRegion(s.config, t.region)], requester(c));
      try {
        job = await submit();
      } catch (again) {
        if (again instanceof ApiError && again.code === 'NOT_FOUND') return c.json({ message: 'Success' }, 200);
        throw again;
      }
    }
    return awaitOutcome(s, c, job, wait);
  });

  return r;
}

/** Submits an operation on the VM a legacy body names and waits for the outcome. */
async function legacyOp(s: Services, c: Context<AppEnv>, b: z.infer<typeof LegacyTarget>, op: VmOp): Promise<Response> {
  const job = await submitVmOp(s, { region: b.region_name, vm_name: b.vm_name }, op, requester(c), 'body', callerOwner(c));
  return awaitOutcome(s, c, job, s.config.legacy_wait_ms);
}
