/**
 * Capacity: what a host has, what it uses and whether a VM fits. Pure functions over what the API reads
 * from Redis (inventory, host info the workers publish, creates placed but not listed yet, queued
 * operations), so the rules are tested without a host.
 */
import {
  type HostConfig,
  type HostInfoRecord,
  type InventoryEntry,
  NO_PENDING,
  type PendingCreate,
  type PendingLimits,
  type PendingTotals,
} from '@provisioner/contracts';
import type { RegionHost } from '@provisioner/contracts/api';
import type { HostCordon } from '@provisioner/store';

const MiB = 1024 * 1024;

/** Everything placement knows about one host. */
export interface HostState {
  host: HostConfig;
  entry: InventoryEntry | null;
  /** Null until a worker has published it (placement then checks only the host's configured caps). */
  info: HostInfoRecord | null;
  /** Totals of the creates placed on the host that its inventory does not list yet. */
  pending: PendingTotals;
  /** Operations waiting or running on the host's queue. */
  queued: number;
  /** Set while the host is cordoned: it gets no new VMs. */
  cordon: HostCordon | null;
}

export interface Ratios {
  cpu_allocation_ratio: number;
  memory_allocation_ratio: number;
}

/**
 * One host's capacity and use, as placement counts them: the host view's `capacity` (GET /v1/regions?hosts=true,
 * `@provisioner/contracts/api`) with the host's name and when its info was read. `disk_free_mb` is the free disk
 * in images_dir or disks_dir (the smaller) less the reserve and the disks of pending creates.
 */
export type HostCapacity = RegionHost['capacity'] & Pick<RegionHost, 'host' | 'info_observed_at'>;

export function hostCapacity(s: HostState, r: Ratios): HostCapacity {
  const listed = listedUse(s);
  const info = s.info;
  const p = s.pending;
  return {
    host: s.host.name,
    vms: listed.n + p.n,
    max_vms: s.host.max_vms ?? null,
    vcpus_used: listed.vcpus + p.vcpus,
    vcpus_total: info ? Math.floor(info.cpus * r.cpu_allocation_ratio) - s.host.reserved_vcpus : null,
    memory_mb_used: listed.memory_mb + p.memory_mb,
    memory_mb_total: info ? Math.floor(info.memory_mb * r.memory_allocation_ratio) - s.host.reserved_memory_mb : null,
    disk_free_mb: info ? Math.floor(info.disk_free_bytes / MiB) - s.host.reserved_disk_mb - p.storage_mb : null,
    queued_ops: s.queued,
    max_concurrent_operations: s.host.max_concurrent_operations,
    info_observed_at: info?.observed_at ?? null,
  };
}

/** What the VMs the host's inventory lists use. */
function listedUse(s: HostState): { n: number; vcpus: number; memory_mb: number } {
  const vms = s.entry?.vms ?? [];
  return {
    n: vms.length,
    vcpus: vms.reduce((a, v) => a + (v.vcpus || 0), 0),
    memory_mb: vms.reduce((a, v) => a + (v.memory_mb || 0), 0),
  };
}

/**
 * How much may be pending on the host in all, given what its inventory lists: the room the pending
 * totals may fill. Checked and reserved in one step in Redis (VmLedger.reserve), so concurrent creates in
 * any API process never count the same room twice.
 */
export function pendingLimits(s: HostState, r: Ratios): PendingLimits {
  const c = hostCapacity({ ...s, pending: NO_PENDING }, r);
  return {
    n: c.max_vms === null ? null : c.max_vms - c.vms,
    vcpus: c.vcpus_total === null ? null : c.vcpus_total - c.vcpus_used,
    memory_mb: c.memory_mb_total === null ? null : c.memory_mb_total - c.memory_mb_used,
    storage_mb: c.disk_free_mb,
  };
}

export interface Need {
  vcpus: number;
  memory_mb: number;
  storage_mb: number;
}

/** Why the VM does not fit on the host, or null when it does. */
export function misfit(c: HostCapacity, need: Need): string | null {
  if (c.max_vms !== null && c.vms + 1 > c.max_vms) return `at its cap of ${c.max_vms} VMs`;
  if (c.vcpus_total !== null && c.vcpus_used + need.vcpus > c.vcpus_total)
    return `needs ${need.vcpus} vCPUs, ${Math.max(0, c.vcpus_total - c.vcpus_used)} of ${c.vcpus_total} free`;
  if (c.memory_mb_total !== null && c.memory_mb_used + need.memory_mb > c.memory_mb_total)
    return `needs ${need.memory_mb} MiB of memory, ${Math.max(0, c.memory_mb_total - c.memory_mb_used)} of ${c.memory_mb_total} free`;
  if (c.disk_free_mb !== null && need.storage_mb > c.disk_free_mb) return `needs ${need.storage_mb} MiB of disk, ${Math.max(0, c.disk_free_mb)} free`;
  return null;
}

/** Why a resize's extra room (`delta`) does not fit on the host: `field` is the total the ledger found full. */
export function resizeMisfit(field: keyof PendingTotals, delta: PendingCreate, s: HostState, r: Ratios): string {
  const c = hostCapacity(s, r);
  const free = (total: number | null, used: number) => (total === null ? 'unknown' : String(Math.max(0, total - used)));
  if (field === 'vcpus') return `needs ${delta.vcpus} more vCPUs, ${free(c.vcpus_total, c.vcpus_used)} of ${c.vcpus_total} free`;
  if (field === 'memory_mb') return `needs ${delta.memory_mb} MiB more memory, ${free(c.memory_mb_total, c.memory_mb_used)} of ${c.memory_mb_total} free`;
  if (field === 'storage_mb') return `needs ${delta.storage_mb} MiB more disk, ${Math.max(0, c.disk_free_mb ?? 0)} free`;
  return `at its cap of ${c.max_vms} VMs`;
}

/**
 * How full the host would be with the VM: the highest of its vCPU, memory and VM-count fractions.
 * A host with no published info and no VM cap counts as full (1): eligible, but after hosts known to have room.
 */
export function loadAfter(c: HostCapacity, need: Need): number {
  const parts: number[] = [];
  if (c.vcpus_total !== null) parts.push((c.vcpus_used + need.vcpus) / Math.max(1, c.vcpus_total));
  if (c.memory_mb_total !== null) parts.push((c.memory_mb_used + need.memory_mb) / Math.max(1, c.memory_mb_total));
  if (c.max_vms !== null) parts.push((c.vms + 1) / Math.max(1, c.max_vms));
  return parts.length ? Math.max(...parts) : 1;
}
