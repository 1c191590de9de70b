/**
 * Reading one VM as a versioned resource: its item (from the inventory, or from its pending create while
 * that create has not run) and an ETag that a write built from the read carries back (`If-Match`,
 * AIP-154), so a page or a client holding a stale view gets 412, never a silent overwrite.
 */
import { createHash } from 'node:crypto';
import { GUEST_UNKNOWN, type JobPayload } from '@provisioner/contracts';
import type { StaleVersion } from '@provisioner/contracts/api';
import type { Services } from '../context.ts';
import { ApiError, vmNotFound } from '../errors.ts';
import type { VmItem } from '../inventory.ts';
import { resolveTarget, type Target } from './operate-vm.ts';

type CreateData = Extract<JobPayload, { kind: 'create' }>;

interface LineView {
  /** Whether any operation on the VM is queued or running. */
  inLine: boolean;
  create: CreateData | null;
  tags: Record<string, string> | null;
}

/**
 * What the VM's line of operations (queued or running, in order) says of it before the inventory does:
 * its create while that has not run, and the tags the last tag edit in line sets (edits replace all the
 * tags and run in order, so those are the tags the VM will have). One read per job in line (usually none).
 */
export async function lineView(s: Services, region: string, name: string): Promise<LineView> {
  const line = await s.ledger.line(region, name);
  const out: LineView = { inLine: line.length > 0, create: null, tags: null };
  const data = await Promise.all(line.map(async (id) => (await s.queues.find(id))?.job.data as Partial<JobPayload> | undefined));
  for (const d of data) {
    if (d?.kind === 'create') out.create = d as CreateData;
    if (d?.kind === 'edit-tags' && d.tags) out.tags = d.tags;
  }
  return out;
}

/**
 * A VM whose create is accepted but has not run yet: its host is chosen, libvirt does not know it. What
 * the create asked for (type, size, image, tags) is shown from the create itself.
 */
export function pendingItem(t: Target, host: string, create: CreateData | null): VmItem {
  return {
    vm_name: t.vm_name,
    region_name: t.region,
    host,
    dom_id: null,
    state: 'pending',
    managed: true,
    tags: create?.tags ?? {},
    ip: null,
    addresses: [],
    guest: GUEST_UNKNOWN,
    vcpus: create?.vcpus ?? null,
    memory_mb: create?.memory_mb ?? null,
    image: create?.image.name ?? null,
    instance_type: create?.instance_type ?? null,
    snapshots: [],
    observed_at: null,
    transition: null,
  };
}

/**
 * The VM's ETag: its seq (which grows with every operation queued on it, so a queued tag edit or stop
 * makes every earlier read stale at once, before it runs) and a hash of what the VM is: tags, state,
 * spec, image, host, addresses, guest, snapshots. Not of `observed_at` nor `transition`: they say when the
 * host was listed and how a running job goes, and a scheduled listing that finds nothing new must not
 * make a form stale.
 */
export function vmEtag(vm: VmItem, seq: number): string {
  const { observed_at: _o, transition: _t, tags, ...rest } = vm;
  const sortedTags = Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const hash = createHash('sha256')
    .update(JSON.stringify([sortedTags, Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1))]))
    .digest('base64url')
    .slice(0, 22);
  return `"${seq}.${hash}"`;
}

/**
 * Whether an `If-Match` header admits `etag` (RFC 9110 §13.1.1): `*` admits any current VM, else one of
 * its comma-separated entity tags must equal it by strong comparison (a weak `W/"…"` never matches).
 */
export function ifMatchAdmits(header: string, etag: string): boolean {
  const v = header.trim();
  if (v === '*') return true;
  return (v.match(/(?:W\/)?"[^"]*"/g) ?? []).some((tag) => tag === etag);
}

export interface VersionedVm {
  vm: VmItem;
  etag: string;
  /** The seq the ETag was built from (for JobQueue.submit's `expectSeq`). */
  seq: number;
}

/**
 * The VM a path names as `owner` (null: any) may see it, with its ETag; 404 when none. Its tags are those
 * a queued tag edit sets, if one is in line: a write built from this read is layered on what will be.
 */
export async function readVm(s: Services, t: Target, owner: string | null): Promise<VersionedVm> {
  const region = resolveTarget(s, t, 'path');
  // The seq first: an operation queued during the other reads makes this read stale, never the reverse.
  const seq = await s.ledger.seq(t.region, t.vm_name);
  const [loc, line] = await Promise.all([s.inventory.locate(region, t.vm_name), lineView(s, t.region, t.vm_name)]);
  const item = loc?.vm ?? (loc && line.inLine ? pendingItem(t, loc.host, line.create) : null);
  // The owner as operate-vm's vmOwner reads it (the inventory's tag, else the pending create's), from what was read here.
  if (!item || (owner !== null && item.tags.owner !== owner)) throw vmNotFound(t.region, t.vm_name);
  const [vm] = await s.inventory.withTransitions([line.tags ? { ...item, tags: line.tags } : item]);
  return { vm: vm ?? item, etag: vmEtag(vm ?? item, seq), seq };
}

/** The 412 of a write whose If-Match is stale: the current ETag (header and body) and tags, to show or to merge with. */
export function staleVersion(t: Target, current: VersionedVm): ApiError {
  return new ApiError(
    'PRECONDITION_FAILED',
    `VM ${t.region}/${t.vm_name} changed since it was read (If-Match does not match its ETag ${current.etag}): read it again, then write`,
    { details: { etag: current.etag, tags: current.vm.tags } satisfies StaleVersion, headers: { ETag: current.etag } },
  );
}
