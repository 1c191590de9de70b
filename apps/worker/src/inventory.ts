import { type InventoryEntry, type InventoryVm, keys } from '@provisioner/contracts';
import type { DomainInfo, Hypervisor } from '@provisioner/libvirt';
import type { Redis } from 'ioredis';

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
 * Lists one host (one SSH exec) and writes its inventory entry. A failure is recorded in the entry
 * (with when it was attempted) and the last good listing is kept.
 */
export async function refreshInventory(redis: Redis, prefix: string, region: string, host: string, hv: Hypervisor): Promise<InventoryEntry> {
  const key = keys.inventory(prefix, region, host);
  const now = new Date().toISOString();
  try {
    const domains = await hv.listDomains({ timeoutMs: 60_000 });
    const entry: InventoryEntry = { region, host, observed_at: now, attempted_at: now, error: null, vms: domains.map(toInventoryVm) };
    await redis.set(key, JSON.stringify(entry));
    return entry;
  } catch (e) {
    const prev = await redis.get(key);
    const old = prev ? (JSON.parse(prev) as InventoryEntry) : null;
    const entry: InventoryEntry = { region, host, observed_at: old?.observed_at ?? null, attempted_at: now, error: (e as Error).message, vms: old?.vms ?? [] };
    await redis.set(key, JSON.stringify(entry));
    throw e;
  }
}
