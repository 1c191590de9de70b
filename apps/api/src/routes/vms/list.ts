/**
 * `GET /v1/vms`: the VMs of the inventory, filtered, sorted (region, name, host) and paged by cursor or
 * offset; `refresh=true` lists the hosts first.
 */

import { TagKeySchema, VM_STATES } from '@provisioner/contracts';
import { VmPage } from '@provisioner/contracts/api';
import { z } from 'zod';
import { callerOwner, requester } from '../../caller.ts';
import { ApiError } from '../../errors.ts';
import { hostStatus, type VmItem, vmItems } from '../../inventory.ts';
import { defineRoute } from '../../route.ts';
import { enabledRegions, findRegion, validate } from '../../validation.ts';

export const Bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

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

export default defineRoute({
  method: 'get',
  path: '/v1/vms',
  tag: 'vms',
  summary: 'List VMs (from the inventory)',
  description: 'Sorted by region, name, host. `refresh=true` lists the hosts first (bounded by `refresh_wait_ms`).',
  auth: 'read',
  needsRedis: true,
  request: { query: ListQuery },
  responses: { 200: { description: 'A page of VMs', schema: VmPage } },
  errors: ['BAD_REQUEST', 'NOT_FOUND', 'VALIDATION'],
  handler: async (c, s) => {
    const q = validate(ListQuery, { ...c.req.query(), tag: c.req.queries('tag') ?? [] });
    const regions = q.region !== undefined ? [findRegion(s.config, q.region)] : enabledRegions(s.config);
    if (q.refresh) await s.refresher.refresh(regions, requester(c));
    const entries = await s.inventory.entries(regions);
    const owner = callerOwner(c);
    const items = vmItems(entries).filter((v) => owner === null || v.tags.owner === owner);
    const page = pageVms(items, q);
    return c.json({ ...page, vms: await s.inventory.withTransitions(page.vms), hosts: entries.map(hostStatus) });
  },
});
