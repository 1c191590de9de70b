/**
 * Drift: what a host holds that nobody accounts for — managed domains whose disk is gone, files in
 * disks_dir of no domain, names reserved for the host with neither a domain nor a job. Computed by the
 * inventory refresh from its one listing exec (domains and the disks directory's files) and Redis (names
 * and each VM's line of jobs); removed by the `drift-clean` job, which computes it again first.
 */
import type { DriftItem, HostDriftRecord } from '@provisioner/contracts';
import type { DiskFile, DomainInfo, Hypervisor } from '@provisioner/libvirt';
import type { VmLedger } from '@provisioner/store';

export interface DriftInput {
  domains: ReadonlyArray<Pick<DomainInfo, 'name' | 'managed' | 'disks'>>;
  files: readonly DiskFile[];
  disksDir: string;
  /** Names reserved for the host or pending there (VmLedger.namesOn). */
  reserved: readonly string[];
  /** Names with a job queued or running: nothing of theirs is drift. */
  busy: ReadonlySet<string>;
  now: number;
  graceMs: number;
}

/**
 * The VM a disks_dir file belongs to by this service's naming (hypervisor.ts `paths`): `NAME.qcow2`,
 * `NAME-seed.iso`, `NAME.console.log[.N]`, and other `NAME.…` files its jobs make; null for a name that
 * is not one of them (left alone: not ours to judge).
 */
export function fileOwner(file: string): string | null {
  const seed = /^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)-seed\.iso(?:\..*)?$/.exec(file);
  if (seed?.[1]) return seed[1];
  const m = /^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\.[A-Za-z0-9._-]+$/.exec(file);
  return m?.[1] ?? null;
}

/** Drift of one host (pure). */
export function computeDrift(i: DriftInput): DriftItem[] {
  const items: DriftItem[] = [];
  const files = new Map(i.files.map((f) => [f.name, f]));
  const domains = new Set(i.domains.map((d) => d.name));
  const dir = i.disksDir.replace(/\/+$/, '');
  for (const d of i.domains) {
    // Unmanaged domains are never ours; a VM with a job may be between disks (create, rebuild).
    if (!d.managed || i.busy.has(d.name)) continue;
    const disk = d.disks.find((p) => p.endsWith('.qcow2')) ?? `${dir}/${d.name}.qcow2`;
    // Only a disk in disks_dir can be checked against its listing.
    if (disk.slice(0, disk.lastIndexOf('/')) !== dir || files.has(disk.slice(dir.length + 1))) continue;
    items.push({ kind: 'domain-without-disk', vm_name: d.name, path: disk, detail: 'managed domain whose disk is missing' });
  }
  for (const f of i.files) {
    const owner = fileOwner(f.name);
    if (owner === null || domains.has(owner) || i.busy.has(owner)) continue;
    if (i.now - f.mtimeMs < i.graceMs) continue;
    items.push({
      kind: 'file-without-domain',
      vm_name: owner,
      path: `${dir}/${f.name}`,
      detail: `${f.sizeBytes} bytes, modified ${new Date(f.mtimeMs).toISOString()}, no domain ${owner}`,
    });
  }
  for (const name of [...new Set(i.reserved)].sort()) {
    if (domains.has(name) || i.busy.has(name)) continue;
    items.push({ kind: 'name-without-vm', vm_name: name, path: null, detail: 'name reserved for this host with no domain and no job' });
  }
  return items;
}

/** Reads what drift needs from Redis for a listing and computes it (the names' jobs in one pipelined read). */
export async function collectDrift(
  ledger: VmLedger,
  region: string,
  host: string,
  listing: { domains: DriftInput['domains']; files: readonly DiskFile[] },
  disksDir: string,
  graceMs: number,
): Promise<HostDriftRecord> {
  const reserved = await ledger.namesOn(region, host);
  const candidates = [...new Set([...listing.domains.map((d) => d.name), ...listing.files.flatMap((f) => fileOwner(f.name) ?? []), ...reserved])];
  const heads = await ledger.heads(candidates.map((vm) => ({ region, vm })));
  const busy = new Set(candidates.filter((_, k) => heads[k] !== undefined));
  const now = Date.now();
  const items = computeDrift({ domains: listing.domains, files: listing.files, disksDir, reserved, busy, now, graceMs });
  return { region, host, observed_at: new Date(now).toISOString(), grace_ms: graceMs, items };
}

/** The listing a `drift-clean` job re-checks with (the same exec as the inventory's). */
export type DriftHost = Pick<Hypervisor, 'listDomainsWithGuests' | 'removeOldFiles' | 'undefine'>;
