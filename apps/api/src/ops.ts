/**
 * Submitting operations: the one path from a validated request to a queued job, shared by the new
 * routes (which answer 202 with the job) and the legacy routes (which wait for the outcome).
 */
import { isTerminal, keys, TagsSchema, toJobView, VmNameSchema, WebhookUrlSchema } from '@provisioner/contracts';
import type { Job } from 'bullmq';
import type { Context } from 'hono';
import { z } from 'zod';
import type { AppEnv, Services } from './context.ts';
import { ApiError, jobFailure } from './errors.ts';
import { vmItems } from './inventory.ts';
import { decodeUserData, findImage, findInstanceType, findRegion } from './validation.ts';

/** Who asked, recorded with the job (the token's name, never the token). */
export interface Requester {
  submitted_by: string;
  request_id: string;
  /** Where the job's outcome is POSTed (callbacks.ts). */
  webhook_url?: string;
}

export function requester(c: Context<AppEnv>): Requester {
  return { submitted_by: c.get('caller')?.name ?? 'anonymous', request_id: c.get('requestId') };
}

/** The create body of both POST /v1/vms and the legacy POST /v1/create; unknown fields are ignored. */
export const CreateBody = z.object({
  vm_name: VmNameSchema,
  region_name: z.string().max(63),
  instance_type: z.string().max(64),
  image: z.string().max(128),
  tags: TagsSchema.nullish(),
  user_data: z.string().nullish(),
  /** POSTed the job's outcome, signed (see routes/webhooks.ts); the legacy routes ignore it. */
  webhook_url: WebhookUrlSchema.optional(),
});
export type CreateBody = z.infer<typeof CreateBody>;

/**
 * Validates a create against the configuration, chooses its host and reserves the name there
 * (SET NX), then queues it. 409 when the name is taken in the region.
 */
export async function submitCreate(s: Services, body: CreateBody, by: Requester): Promise<Job> {
  const region = findRegion(s.config, body.region_name);
  const type = findInstanceType(region, body.instance_type);
  const image = findImage(s.config, body.image);
  const userData = decodeUserData(body.user_data);
  const { host, entries } = await s.inventory.chooseHost(region);
  if (vmItems(entries).some((v) => v.vm_name === body.vm_name)) throw new ApiError('CONFLICT', 'vm already exists');
  const hostKey = keys.vmHost(s.config.queue_prefix, region.region_name, body.vm_name);
  if ((await s.redis.set(hostKey, host, 'NX')) === null) throw new ApiError('CONFLICT', 'vm already exists');
  try {
    return await s.queues.submit({
      kind: 'create',
      region: region.region_name,
      host,
      vm_name: body.vm_name,
      instance_type: type.instance_type,
      vcpus: type.vcpus,
      memory_mb: type.memory_mb,
      storage_mb: type.storage_mb,
      image,
      tags: body.tags ?? {},
      user_data: userData,
      ...by,
    });
  } catch (e) {
    // Nothing was queued: free the name again.
    await s.redis.del(hostKey).catch(() => undefined);
    throw e;
  }
}

/** An operation on an existing VM, as the routes describe it (seq, host and requester added here). */
export type VmOp =
  | { kind: 'start' }
  | { kind: 'stop'; force: boolean; timeout_ms: number }
  | { kind: 'reboot'; timeout_ms: number }
  | { kind: 'delete' }
  | { kind: 'edit-tags'; tags: Record<string, string> };

export interface Target {
  region: string;
  vm_name: string;
}

/** Checks a target named in a body (422 when unknown) or a path (404). */
export function resolveTarget(s: Services, t: Target, where: 'body' | 'path') {
  const region = findRegion(s.config, t.region, where === 'body' ? 'VALIDATION' : 'NOT_FOUND');
  const r = VmNameSchema.safeParse(t.vm_name);
  if (!r.success)
    throw new ApiError('VALIDATION', 'vm_name must be a lowercase DNS label (1-63 of a-z, 0-9, -)', { details: [{ path: 'vm_name', message: 'invalid' }] });
  return region;
}

/** Queues an operation on the VM's host; 404 when no host knows the VM. */
export async function submitVmOp(s: Services, t: Target, op: VmOp, by: Requester, where: 'body' | 'path'): Promise<Job> {
  const region = resolveTarget(s, t, where);
  const loc = await s.inventory.locate(region, t.vm_name);
  if (!loc) throw new ApiError('NOT_FOUND', 'vm not found');
  return s.queues.submit({ ...op, region: region.region_name, host: loc.host, vm_name: t.vm_name, ...by });
}

export function jobLocation(id: string): string {
  return `/v1/jobs/${id}`;
}

/** 202 Accepted with the job view, where to follow it and when to look. */
export function accepted(c: Context<AppEnv>, job: Job): Response {
  const view = toJobView(job, 'waiting');
  c.header('Location', jobLocation(view.id));
  c.header('Retry-After', '1');
  return c.json(view, 202);
}

/**
 * The legacy answer: waits for the job, then `200 {"message":"Success"}`, the job's failure as an
 * error status, or 504 with the job's link when it has not finished in time (the job goes on).
 */
export async function awaitOutcome(s: Services, c: Context<AppEnv>, job: Job, ms: number): Promise<Response> {
  const id = String(job.id);
  const location = jobLocation(id);
  const view = await s.watcher.waitFor(s.queues.get(job.queueName), id, ms);
  if (view?.state === 'succeeded') return c.json({ message: 'Success' }, 200);
  if (!view) throw new ApiError('JOB_FAILED', 'the job was removed before it finished', { jobId: id });
  if (isTerminal(view.state)) throw jobFailure(id, view.error, location);
  throw new ApiError('TIMEOUT', `the operation did not finish within ${Math.round(ms / 1000)} s; it goes on, follow ${location}`, {
    jobId: id,
    details: { state: view.state, step: view.step, links: view.links },
    headers: { Location: location },
  });
}
