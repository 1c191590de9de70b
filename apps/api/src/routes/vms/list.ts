/**
 * `GET /v1/vms`: the VMs of the inventory, filtered, sorted (region, name, host) and paged by cursor or
 * offset; `refresh=true` lists the hosts first.
 */

import { VmListQuery, VmPage } from '@provisioner/contracts/api';
import { callerOwner, requester } from '../../caller.ts';
import { ApiError } from '../../errors.ts';
import { compareVmItems, hostStatus, type VmItem } from '../../inventory.ts';
import { defineRoute } from '../../route.ts';
import { enabledRegions, findRegion } from '../../validation.ts';

export type ListQuery = VmListQuery;

type SortKey = [region: string, name: string, host: string];
const sortKey = (v: VmItem): SortKey => [v.region_name, v.vm_name, v.host];
/** Code-point order of an item against a cursor's key (compareVmItems' order). */
function compareToKey(v: VmItem, k: SortKey): number {
  const [r, n, h] = k;
  if (v.region_name !== r) return v.region_name < r ? -1 : 1;
  if (v.vm_name !== n) return v.vm_name < n ? -1 : 1;
  if (v.host !== h) return v.host < h ? -1 : 1;
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

/**
 * Filters, sorts (region, name, host) and pages items; a cursor continues after the last item it names
 * (found by binary search). `sorted`: the items are in that order already (Inventory.sortedItems).
 */
export function pageVms(items: VmItem[], q: ListQuery, sorted = false) {
  if (q.cursor !== undefined && q.offset !== undefined) throw new ApiError('BAD_REQUEST', 'use cursor or offset, not both');
  const filtering = q.state !== undefined || q.owner !== undefined || q.managed !== undefined || q.tag.length > 0;
  const kept = filtering ? items.filter((v) => matches(v, q)) : items;
  const filtered = sorted ? kept : (kept === items ? [...items] : kept).sort(compareVmItems);
  let start = q.offset ?? 0;
  if (q.cursor !== undefined) {
    const after = decodeCursor(q.cursor);
    // The first item past the cursor's key.
    let lo = 0;
    let hi = filtered.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareToKey(filtered[mid] as VmItem, after) > 0) hi = mid;
      else lo = mid + 1;
    }
    start = lo;
  }
  const page = filtered.slice(start, start + q.limit);
  const last = page.at(-1);
  const more = start + q.limit < filtered.length;
  return { vms: page, total: filtered.length, limit: q.limit, next_cursor: more && last ? encodeCursor(sortKey(last)) : null };
}

/**
 * Each VM's JSON as UTF-8, made once while its host's listing is unchanged (the sorted items are the same
 * objects until then; an item with a transition is a new object): at 5 000 VMs, a page's JSON.stringify and
 * the socket's UTF-8 copy of it were a quarter of the API's time while clients paged (bench/profile-pages.ts).
 */
const vmJson = new WeakMap<VmItem, Buffer>();

/** `{"vms":[…], …rest}`: what c.json would send for `{ vms, ...rest }`, the VMs' bytes from vmJson. */
export function pageJson(vms: readonly VmItem[], rest: Record<string, unknown>): Uint8Array<ArrayBuffer> {
  const parts: Buffer[] = [Buffer.from('{"vms":[')];
  for (const [i, v] of vms.entries()) {
    let b = vmJson.get(v);
    if (!b) {
      b = Buffer.from(JSON.stringify(v));
      vmJson.set(v, b);
    }
    if (i > 0) parts.push(COMMA);
    parts.push(b);
  }
  parts.push(Buffer.from(`],${JSON.stringify(rest).slice(1)}`));
  return Buffer.concat(parts) as Uint8Array<ArrayBuffer>;
}
const COMMA = Buffer.from(',');

export default defineRoute({
  method: 'get',
  path: '/v1/vms',
  tag: 'vms',
  summary: 'List VMs (from the inventory)',
  description:
    'Sorted by region, name, host. `refresh=true` lists the hosts first (bounded by `refresh_wait_ms`): a `refresh` job per host, removed as soon as it ends (its outcome is `hosts[]`), so polling with `refresh=true` never shortens the history of operations (`retention_max_jobs`) and `GET /v1/jobs` shows such a job only while it is queued or running.',
  auth: 'read',
  needsRedis: true,
  request: { query: VmListQuery },
  responses: { 200: { description: 'A page of VMs', schema: VmPage } },
  errors: ['BAD_REQUEST', 'NOT_FOUND', 'VALIDATION'],
  handler: async (c, s, { query: q }) => {
    const regions = q.region !== undefined ? [findRegion(s.config, q.region)] : enabledRegions(s.config);
    if (q.refresh) await s.refresher.refresh(regions, requester(c));
    const owner = callerOwner(c);
    const { entries, page } = await s.inventory.page(regions, (all) => pageVms(owner === null ? all : all.filter((v) => v.tags.owner === owner), q, true));
    const { vms, ...rest } = page;
    return c.body(pageJson(vms, { ...rest, hosts: entries.map(hostStatus) }), 200, { 'content-type': 'application/json' });
  },
});
