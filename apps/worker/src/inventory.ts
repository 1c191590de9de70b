import type { HostInfoRecord, InventoryEntry, InventoryVm } from '@provisioner/contracts';
import { type DomainInfo, DomainNotFoundError, type Hypervisor } from '@provisioner/libvirt';
import type { InventoryStore } from '@provisioner/store';

export function toInventoryVm(d: DomainInfo): InventoryVm {
  return {
    name: d.name,
    uuid: d.uuid,
    dom_id: d.id,
    state: d.state,
    managed: d.managed,
    tags: d.tags,
    ip: d.ip,
    vcpus: d.vcpus,
    memory_mb: d.memoryMiB,
    image: d.image,
    instance_type: d.instanceType,
  };
}

/**
 * Reads the host's CPUs, memory and free disk in its images directory (one SSH exec) and publishes
 * them for the API's placement, which never opens SSH. A failure keeps the last published info.
 */
export async function publishHostInfo(store: InventoryStore, region: string, host: string, hv: Hypervisor): Promise<HostInfoRecord> {
  const i = await hv.hostInfo({ timeoutMs: 30_000 });
  const rec: HostInfoRecord = {
    observed_at: new Date().toISOString(),
    cpus: i.cpus,
    memory_mb: Math.floor(i.memoryMiB),
    memory_available_mb: Math.floor(i.memoryAvailableMiB),
    disk_free_bytes: i.imagesDirFreeBytes,
    disk_total_bytes: i.imagesDirTotalBytes,
    kvm: i.kvm,
  };
  await store.putHostInfo(region, host, rec);
  return rec;
}

/**
 * Lists one host (one SSH exec) and writes its inventory entry. A failure is recorded in the entry
 * (with when it was attempted) and the last good listing is kept.
 */
export async function refreshInventory(store: InventoryStore, region: string, host: string, hv: Hypervisor): Promise<InventoryEntry> {
  const now = new Date().toISOString();
  try {
    const [domains] = await Promise.all([hv.listDomains({ timeoutMs: 60_000 }), publishHostInfo(store, region, host, hv).catch(() => null)]);
    const entry: InventoryEntry = { region, host, observed_at: now, attempted_at: now, error: null, vms: domains.map(toInventoryVm) };
    await store.putEntry(entry);
    return entry;
  } catch (e) {
    await recordHostError(store, region, host, (e as Error).message);
    throw e;
  }
}

/** Records why a host could not be reached in its entry (what /ready shows), keeping the last good listing. */
async function recordHostError(store: InventoryStore, region: string, host: string, error: string): Promise<void> {
  const now = new Date().toISOString();
  const old = await store.entry(region, host);
  const entry: InventoryEntry = { region, host, observed_at: old?.observed_at ?? null, attempted_at: now, error, vms: old?.vms ?? [] };
  await store.putEntry(entry);
}

/**
 * After an operation on one VM: reads just that domain (one SSH exec, whatever the number of domains
 * on the host) and patches the host's inventory entry. Falls back to listing the whole host when the
 * host has no entry yet.
 */
export async function updateInventoryVm(store: InventoryStore, region: string, host: string, hv: Hypervisor, name: string): Promise<void> {
  let vm: InventoryVm | null = null;
  try {
    vm = toInventoryVm(await hv.getDomain(name, { timeoutMs: 60_000 }));
  } catch (e) {
    if (!(e instanceof DomainNotFoundError)) {
      // The host itself failed (unreachable, or it presents another key): say so in its entry.
      await recordHostError(store, region, host, (e as Error).message).catch(() => undefined);
      throw e;
    }
  }
  if (!(await store.patchVm(region, host, name, vm))) await refreshInventory(store, region, host, hv);
}
