import { type HostInfoRecord, type InventoryEntry, type InventoryVm, keys } from '@provisioner/contracts';
import { type DomainInfo, DomainNotFoundError, type Hypervisor } from '@provisioner/libvirt';
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
 * Reads the host's CPUs, memory and free disk in its images directory (one SSH exec) and publishes
 * them for the API's placement, which never opens SSH. A failure keeps the last published info.
 */
export async function publishHostInfo(redis: Redis, prefix: string, region: string, host: string, hv: Hypervisor): Promise<HostInfoRecord> {
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
  await redis.set(keys.hostInfo(prefix, region, host), JSON.stringify(rec));
  return rec;
}

/**
 * Lists one host (one SSH exec) and writes its inventory entry. A failure is recorded in the entry
 * (with when it was attempted) and the last good listing is kept.
 */
export async function refreshInventory(redis: Redis, prefix: string, region: string, host: string, hv: Hypervisor): Promise<InventoryEntry> {
  const key = keys.inventory(prefix, region, host);
  const now = new Date().toISOString();
  try {
    const [domains] = await Promise.all([hv.listDomains({ timeoutMs: 60_000 }), publishHostInfo(redis, prefix, region, host, hv).catch(() => null)]);
    const entry: InventoryEntry = { region, host, observed_at: now, attempted_at: now, error: null, vms: domains.map(toInventoryVm) };
    await redis.set(key, JSON.stringify(entry));
    return entry;
  } catch (e) {
    await recordHostError(redis, key, region, host, (e as Error).message);
    throw e;
  }
}

/** Records why a host could not be reached in its entry (what /ready shows), keeping the last good listing. */
async function recordHostError(redis: Redis, key: string, region: string, host: string, error: string): Promise<void> {
  const now = new Date().toISOString();
  const prev = await redis.get(key);
  const old = prev ? (JSON.parse(prev) as InventoryEntry) : null;
  const entry: InventoryEntry = { region, host, observed_at: old?.observed_at ?? null, attempted_at: now, error, vms: old?.vms ?? [] };
  await redis.set(key, JSON.stringify(entry));
}

/**
 * Replaces (or, with `vm` null, removes) one VM in a host's inventory entry, atomically in Redis.
 * Returns 0 when the host has no entry yet. The entry's `vms` array is spliced in as text because
 * Redis' cjson would encode an empty array as an object.
 */
const PATCH_VM = `local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local entry = cjson.decode(raw)
local out = {}
for _, v in ipairs(entry.vms or {}) do
  if v.name ~= ARGV[1] then table.insert(out, cjson.encode(v)) end
end
if ARGV[2] ~= '' then table.insert(out, ARGV[2]) end
entry.vms = nil
local head = cjson.encode(entry)
redis.call('SET', KEYS[1], string.sub(head, 1, -2) .. ',"vms":[' .. table.concat(out, ',') .. ']}')
return 1`;

/**
 * After an operation on one VM: reads just that domain (one SSH exec, whatever the number of domains
 * on the host) and patches the host's inventory entry. Falls back to listing the whole host when the
 * host has no entry yet.
 */
export async function updateInventoryVm(redis: Redis, prefix: string, region: string, host: string, hv: Hypervisor, name: string): Promise<void> {
  let vm: InventoryVm | null = null;
  try {
    vm = toInventoryVm(await hv.getDomain(name, { timeoutMs: 60_000 }));
  } catch (e) {
    if (!(e instanceof DomainNotFoundError)) {
      // The host itself failed (unreachable, or it presents another key): say so in its entry.
      await recordHostError(redis, keys.inventory(prefix, region, host), region, host, (e as Error).message).catch(() => undefined);
      throw e;
    }
  }
  const patched = await redis.eval(PATCH_VM, 1, keys.inventory(prefix, region, host), name, vm ? JSON.stringify(vm) : '');
  if (patched === 0) await refreshInventory(redis, prefix, region, host, hv);
}
