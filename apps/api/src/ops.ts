/**
 * Submitting operations: the one path from a validated request to a queued job, shared by the new
 * routes (which answer 202 with the job) and the legacy routes (which wait for the outcome).
 */
import { isTerminal, TagsSchema, toJobView, VmNameSchema, WebhookUrlSchema } from '@provisioner/contracts';
import type { Job } from 'bullmq';
import type { Context } from 'hono';
import { z } from 'zod';
import type { AppEnv, Services } from './context.ts';
import { ApiError, jobFailure } from './errors.ts';
import { type VmItem, vmItems } from './inventory.ts';
import { checkQuota, withRegionLock } from './limits.ts';
import { type HostState, type Placement, pendingLimits } from './placement.ts';
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

/** The owner the caller's token is bound to, or null when it sees everything. */
export function callerOwner(c: Context<AppEnv>): string | null {
  return c.get('caller')?.owner ?? null;
}

/** Tags of a create or tag edit by an owner-bound token: its owner forced in, 422 when another owner is named. */
export function ownedTags(owner: string | null, tags: Record<string, string> | null | undefined): Record<string, string> {
  const t = { ...(tags ?? {}) };
  if (owner === null) return t;
  if (t.owner !== undefined && t.owner !== owner) {
    throw new ApiError('VALIDATION', 'tags.owner must be the owner this token is bound to', { details: [{ path: 'tags.owner', message: 'not your owner' }] });
  }
  t.owner = owner;
  const r = TagsSchema.safeParse(t);
  if (!r.success) throw new ApiError('VALIDATION', 'too many tags with the owner tag added', { details: [{ path: 'tags', message: 'too many tags' }] });
  return t;
}

/** Whether an owner-bound caller (or any caller, when `owner` is null) may see a job. */
export function jobVisible(owner: string | null, job: Job): boolean {
  return owner === null || (job.data as { owner?: string }).owner === owner;
}

/**
 * The `owner` tag of a VM: from the inventory, or, while its create has not run yet, from that create.
 * Undefined when it has none.
 */
export async function vmOwner(s: Services, region: string, name: string, vm: VmItem | null): Promise<string | undefined> {
  if (vm) return vm.tags.owner;
  for (const id of await s.ledger.line(region, name)) {
    const data = (await s.queues.find(id))?.job.data as { kind?: string; tags?: Record<string, string> } | undefined;
    if (data?.kind === 'create') return data.tags?.owner;
  }
  return undefined;
}

/** A placement that found no host with room (the reason per host). */
type NoRoom = Extract<Placement, { ok: false }>;

/** The create body of POST /v1/vms: an unknown field (`flavour`, `name`) is a 422 naming it, not silently dropped. */
export const CreateBody = z.strictObject({
  vm_name: VmNameSchema.meta({ example: 'amber-otter' }),
  region_name: z.string().max(63).meta({ description: 'A region of GET /v1/regions', example: 'local' }),
  instance_type: z.string().max(64).meta({ description: 'One of the region’s available_instance_types', example: 'small' }),
  image: z.string().max(128).meta({ description: 'A name of GET /v1/images', example: 'tiny' }),
  tags: TagsSchema.nullish().meta({ example: { owner: 'alice' } }),
  user_data: z.string().nullish().meta({ description: 'base64 of one cloud-init YAML document', example: 'I2Nsb3VkLWNvbmZpZwpwYWNrYWdlczogW2h0b3BdCg==' }),
  /** POSTed the job's outcome, signed (see routes/webhooks.ts); the legacy routes ignore it. */
  webhook_url: WebhookUrlSchema.optional(),
  /** Pins the VM to this host of the region (placement then only checks it has room). */
  host: z.string().max(63).optional(),
});
export type CreateBody = z.infer<typeof CreateBody>;

/**
 * Validates a create against the configuration, chooses its host by free capacity (or checks the
 * pinned one) and reserves the name there (SET NX), then queues it. 409 when the name is taken in the
 * region or no host has room (the reason per host in `detail`); nothing is queued then.
 */
export async function submitCreate(s: Services, body: CreateBody, by: Requester, owner: string | null = null): Promise<Job> {
  const region = findRegion(s.config, body.region_name);
  const type = findInstanceType(region, body.instance_type);
  const image = findImage(s.config, body.image);
  const userData = decodeUserData(body.user_data);
  const tags = ownedTags(owner, body.tags);
  if (body.host !== undefined && !region.hosts.some((h) => h.name === body.host)) {
    throw new ApiError('VALIDATION', `region ${region.region_name} has no host ${body.host}`, { details: [{ path: 'host', message: 'unknown host' }] });
  }
  const need = { vcpus: type.vcpus, memory_mb: type.memory_mb, storage_mb: type.storage_mb };
  // Places the VM and reserves its room and name on the chosen host in one step (VmLedger.reserve): the
  // host, or the placement that found no room, or null when a concurrent create took the room first.
  const placeAndReserve = async (exact: boolean): Promise<string | NoRoom | null> => {
    const { placement, states, entries } = await s.inventory.chooseHost(region, need, { pin: body.host, exact });
    if (vmItems(entries).some((v) => v.vm_name === body.vm_name)) throw new ApiError('CONFLICT', 'vm already exists');
    if (!placement.ok) return placement;
    const state = states.find((st) => st.host.name === placement.host) as HostState;
    const limits = pendingLimits(state, s.config.placement);
    const r = await s.ledger.reserve(region.region_name, placement.host, body.vm_name, need, limits);
    if (r.ok) return placement.host;
    if (r.reason === 'exists') throw new ApiError('CONFLICT', 'vm already exists');
    return null;
  };

  // Fast path, without a lock: the hosts' running pending totals, checked and reserved atomically.
  let got: string | NoRoom | null = null;
  if (region.max_vms === undefined) {
    for (let i = 0; i < 3 && got === null; i++) got = await placeAndReserve(false);
  }
  // No room by the running totals (which may still count creates that are listed or canceled), or a
  // region quota to count: under the region's lock, with the pending creates swept first.
  const host =
    typeof got === 'string'
      ? got
      : await withRegionLock(s, region, async () => {
          await checkQuota(s, region, body.vm_name);
          for (let i = 0; i < 5; i++) {
            const r = await placeAndReserve(true);
            if (typeof r === 'string') return r;
            if (r !== null) {
              const why = r.reasons.map((x) => `${x.host}: ${x.reason}`).join('; ');
              throw new ApiError('CONFLICT', `no host in region ${region.region_name} has room for a ${type.instance_type} VM (${why})`, {
                details: { reason: 'capacity', region: region.region_name, instance_type: type.instance_type, hosts: r.reasons },
              });
            }
          }
          throw new ApiError('UNAVAILABLE', 'too many creates at once in this region, try again', { headers: { 'Retry-After': '1' } });
        });
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
      tags,
      user_data: userData,
      ...by,
      ...(tags.owner !== undefined ? { owner: tags.owner } : {}),
    });
  } catch (e) {
    // Nothing was queued: free the name and the room again.
    await s.ledger.free(region.region_name, host, body.vm_name).catch(() => undefined);
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

/** Queues an operation on the VM's host; 404 when no host knows the VM, or it is not the owner-bound caller's. */
export async function submitVmOp(s: Services, t: Target, op: VmOp, by: Requester, where: 'body' | 'path', owner: string | null = null): Promise<Job> {
  const region = resolveTarget(s, t, where);
  const loc = await s.inventory.locate(region, t.vm_name);
  if (!loc) throw new ApiError('NOT_FOUND', 'vm not found');
  const vmOwnerTag = await vmOwner(s, region.region_name, t.vm_name, loc.vm);
  if (owner !== null && vmOwnerTag !== owner) throw new ApiError('NOT_FOUND', 'vm not found');
  const jobOwner = op.kind === 'edit-tags' ? (op.tags.owner ?? vmOwnerTag) : vmOwnerTag;
  return s.queues.submit({
    ...op,
    region: region.region_name,
    host: loc.host,
    vm_name: t.vm_name,
    ...by,
    ...(jobOwner !== undefined ? { owner: jobOwner } : {}),
  });
}

export function jobLocation(id: string): string {
  return `/v1/jobs/${id}`;
}

/** 202 Accepted with the job view, where to follow it and when to look (recorded for an Idempotency-Key). */
export async function accepted(c: Context<AppEnv>, job: Job): Promise<Response> {
  const view = toJobView(job, 'waiting');
  await c.get('idempotency')?.answered(job, 202, view, jobLocation(view.id));
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
  await c.get('idempotency')?.submitted(job, ms);
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
