/**
 * VMs: create, list (from the inventory), read one, and the operations on one VM. Every mutation
 * answers 202 with its job.
 */
import { TagKeySchema, TagsSchema, VM_STATES } from '@provisioner/contracts';
import { Hono } from 'hono';
import { z } from 'zod';
import { CallbackBody, withCallback } from '../callbacks.ts';
import type { AppEnv, Services } from '../context.ts';
import { ApiError } from '../errors.ts';
import { hostStatus, type VmItem, vmItems } from '../inventory.ts';
import { accepted, CreateBody, callerOwner, ownedTags, requester, resolveTarget, submitCreate, submitVmOp, type Target, type VmOp, vmOwner } from '../ops.ts';
import { enabledRegions, findRegion, jsonBody, validate } from '../validation.ts';

const MAX_TIMEOUT_MS = 3_600_000;

export const StopBody = CallbackBody.extend({
  /** Power off at once instead of asking the guest to shut down. */
  force: z.boolean().default(false),
  /** How long the guest gets to shut down before it is powered off (default: worker.stop_timeout_ms). */
  timeout_ms: z.number().int().positive().max(MAX_TIMEOUT_MS).optional(),
});
export const RebootBody = CallbackBody.extend({ timeout_ms: z.number().int().positive().max(MAX_TIMEOUT_MS).optional() });
export const TagsBody = CallbackBody.extend({ tags: TagsSchema });

const Bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** A tag filter: `key=value` (split at the first `=`, which no key contains), `key` alone (any value), or the
 * earlier `key:value` (see tagMatches). */
const TagFilter = z
  .string()
  .max(1100)
  .refine(
    (t) => (t.includes('=') ? TagKeySchema.safeParse(t.split('=', 1)[0]).success : TagKeySchema.safeParse(t.split(':', 1)[0]).success),
    'tag filters are key=value or key (keys: 1-63 of A-Za-z0-9_.:/-)',
  )
  .meta({ example: 'owner=alice' });

// Strict like the bodies: a misspelt filter (`?sate=running`) is a 422, not the whole unfiltered list.
export const ListQuery = z.strictObject({
  region: z.string().max(63).optional().meta({ example: 'local' }),
  /** libvirt's state text: a value no VM can have is a 422, not an empty list. */
  state: z.enum(VM_STATES).optional(),
  owner: z.string().max(1024).optional().meta({ example: 'alice' }),
  /** Repeatable; all must match. The CLI's `--tag key=value` is passed as is. */
  tag: z.array(TagFilter).default([]),
  managed: Bool.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).optional(),
  cursor: z.string().max(400).optional(),
  refresh: Bool.default(false),
});
export type ListQuery = z.infer<typeof ListQuery>;

type SortKey = [region: string, name: string, host: string];
const sortKey = (v: VmItem): SortKey => [v.region_name, v.vm_name, v.host];
/** Code-point order, element by element: stable whatever the locale. */
function compareKeys(a: SortKey, b: SortKey): number {
  for (let i = 0; i < 3; i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function encodeCursor(k: SortKey): string {
  return Buffer.from(JSON.stringify(k)).toString('base64url');
}

function decodeCursor(s: string): SortKey {
  try {
    const k = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(k) && k.length === 3 && k.every((x) => typeof x === 'string')) return k as SortKey;
  } catch {
    // fall through
  }
  throw new ApiError('BAD_REQUEST', 'invalid cursor');
}

function matches(v: VmItem, q: ListQuery): boolean {
  if (q.state !== undefined && v.state !== q.state) return false;
  if (q.owner !== undefined && v.tags.owner !== q.owner) return false;
  if (q.managed !== undefined && v.managed !== q.managed) return false;
  return q.tag.every((t) => tagMatches(v.tags, t));
}

/**
 * `key=value`, or without `=`: the VM has the key, or (the form this API took first, kept for its clients)
 * `key:value` split at the first colon matches. Keys may hold `:`, so both readings are tried.
 */
function tagMatches(tags: Record<string, string>, t: string): boolean {
  const eq = t.indexOf('=');
  if (eq >= 0) return Object.hasOwn(tags, t.slice(0, eq)) && tags[t.slice(0, eq)] === t.slice(eq + 1);
  if (Object.hasOwn(tags, t)) return true;
  const colon = t.indexOf(':');
  return colon > 0 && Object.hasOwn(tags, t.slice(0, colon)) && tags[t.slice(0, colon)] === t.slice(colon + 1);
}

/** Filters, sorts (region, name, host) and pages items; a cursor continues after the last item it names. */
export function pageVms(items: VmItem[], q: ListQuery) {
  if (q.cursor !== undefined && q.offset !== undefined) throw new ApiError('BAD_REQUEST', 'use cursor or offset, not both');
  const filtered = items.filter((v) => matches(v, q)).sort((a, b) => compareKeys(sortKey(a), sortKey(b)));
  let start = q.offset ?? 0;
  if (q.cursor !== undefined) {
    const after = decodeCursor(q.cursor);
    const i = filtered.findIndex((v) => compareKeys(sortKey(v), after) > 0);
    start = i < 0 ? filtered.length : i;
  }
  const page = filtered.slice(start, start + q.limit);
  const last = page.at(-1);
  const more = start + q.limit < filtered.length;
  return { vms: page, total: filtered.length, limit: q.limit, next_cursor: more && last ? encodeCursor(sortKey(last)) : null };
}

/** A VM whose create is accepted but has not run yet: its host is chosen, libvirt does not know it. */
function pendingItem(t: Target, host: string): VmItem {
  return {
    vm_name: t.vm_name,
    region_name: t.region,
    host,
    dom_id: null,
    state: 'pending',
    managed: true,
    tags: {},
    ip: null,
    vcpus: null,
    memory_mb: null,
    image: null,
    instance_type: null,
    observed_at: null,
    transition: null,
  };
}

export const VmQuery = z.strictObject({ refresh: Bool.default(false) });

export function vmRoutes(s: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const target = (c: { req: { param(k: string): string } }): Target => ({ region: c.req.param('region'), vm_name: c.req.param('name') });
  const submitOp = async (c: Parameters<typeof requester>[0], op: VmOp, url?: string) =>
    accepted(c, await submitVmOp(s, target(c), op, withCallback(s, c, url), 'path', callerOwner(c)));

  r.post('/v1/vms', async (c) => {
    const b = await jsonBody(c, CreateBody);
    return accepted(c, await submitCreate(s, b, withCallback(s, c, b.webhook_url), callerOwner(c)));
  });

  r.get('/v1/vms', async (c) => {
    const q = validate(ListQuery, { ...c.req.query(), tag: c.req.queries('tag') ?? [] });
    const regions = q.region !== undefined ? [findRegion(s.config, q.region)] : enabledRegions(s.config);
    if (q.refresh) await s.inventory.refresh(regions, requester(c));
    const entries = await s.inventory.entries(regions);
    const owner = callerOwner(c);
    const items = vmItems(entries).filter((v) => owner === null || v.tags.owner === owner);
    const page = pageVms(items, q);
    return c.json({ ...page, vms: await s.inventory.withTransitions(page.vms), hosts: entries.map(hostStatus) });
  });

  r.get('/v1/vms/:region/:name', async (c) => {
    const t = target(c);
    const region = resolveTarget(s, t, 'path');
    if (validate(VmQuery, c.req.query()).refresh) await s.inventory.refresh([region], requester(c));
    const loc = await s.inventory.locate(region, t.vm_name);
    const owner = callerOwner(c);
    if (loc && owner !== null && (await vmOwner(s, t.region, t.vm_name, loc.vm)) !== owner) throw new ApiError('NOT_FOUND', 'vm not found');
    if (loc?.vm) return c.json((await s.inventory.withTransitions([loc.vm]))[0]);
    if (loc && (await s.inventory.hasPendingOps(t.region, t.vm_name))) return c.json((await s.inventory.withTransitions([pendingItem(t, loc.host)]))[0]);
    throw new ApiError('NOT_FOUND', 'vm not found');
  });

  r.post('/v1/vms/:region/:name/start', async (c) => submitOp(c, { kind: 'start' }, (await jsonBody(c, CallbackBody, { optional: true })).webhook_url));

  r.post('/v1/vms/:region/:name/stop', async (c) => {
    const b = await jsonBody(c, StopBody, { optional: true });
    return submitOp(c, { kind: 'stop', force: b.force, timeout_ms: b.timeout_ms ?? s.config.worker.stop_timeout_ms }, b.webhook_url);
  });

  r.post('/v1/vms/:region/:name/reboot', async (c) => {
    const b = await jsonBody(c, RebootBody, { optional: true });
    return submitOp(c, { kind: 'reboot', timeout_ms: b.timeout_ms ?? s.config.worker.stop_timeout_ms }, b.webhook_url);
  });

  r.put('/v1/vms/:region/:name/tags', async (c) => {
    const b = await jsonBody(c, TagsBody);
    return submitOp(c, { kind: 'edit-tags', tags: ownedTags(callerOwner(c), b.tags) }, b.webhook_url);
  });

  r.delete('/v1/vms/:region/:name', async (c) => submitOp(c, { kind: 'delete' }, (await jsonBody(c, CallbackBody, { optional: true })).webhook_url));

  return r;
}
