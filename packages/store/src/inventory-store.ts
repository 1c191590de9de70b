/**
 * The hosts as the workers last saw them, one JSON record per host each: its inventory entry (the VMs
 * listed), its host info (CPUs, memory, free disk, for placement) and its image cache. Workers write;
 * the API, which never opens SSH, reads.
 */
import { GUEST_UNKNOWN, type HostDriftRecord, type HostInfoRecord, type ImageCacheRecord, type InventoryEntry, type InventoryVm } from '@provisioner/contracts';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { runScript } from './scripts.ts';

export interface HostRef {
  region: string;
  host: string;
}

export class InventoryStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** The inventory entries of `hosts`, in order (one MGET); null for a host not listed yet or unreadable. */
  async entries(hosts: readonly HostRef[]): Promise<Array<InventoryEntry | null>> {
    if (hosts.length === 0) return [];
    const raw = await this.redis.mget(...hosts.map((h) => keys.inventory(this.prefix, h.region, h.host)));
    return hosts.map((_, i) => parseEntry(raw[i] ?? null));
  }

  async entry(region: string, host: string): Promise<InventoryEntry | null> {
    return parseEntry(await this.redis.get(keys.inventory(this.prefix, region, host)));
  }

  async putEntry(entry: InventoryEntry): Promise<void> {
    await this.redis.set(keys.inventory(this.prefix, entry.region, entry.host), JSON.stringify(entry));
  }

  /**
   * Replaces (or, with `vm` null, removes) VM `name` in the host's entry, atomically. False when the host
   * has no entry yet (then list the whole host).
   */
  async patchVm(region: string, host: string, name: string, vm: InventoryVm | null): Promise<boolean> {
    const r = await runScript(this.redis, 'patchInventoryVm', [keys.inventory(this.prefix, region, host)], [name, vm ? JSON.stringify(vm) : '']);
    return r !== 0;
  }

  /** The host info workers published for `hosts`, in order (one MGET). */
  async hostInfo(hosts: readonly HostRef[]): Promise<Array<HostInfoRecord | null>> {
    if (hosts.length === 0) return [];
    const raw = await this.redis.mget(...hosts.map((h) => keys.hostInfo(this.prefix, h.region, h.host)));
    return hosts.map((_, i) => parseJson<HostInfoRecord>(raw[i] ?? null));
  }

  async putHostInfo(region: string, host: string, rec: HostInfoRecord): Promise<void> {
    await this.redis.set(keys.hostInfo(this.prefix, region, host), JSON.stringify(rec));
  }

  async drift(region: string, host: string): Promise<HostDriftRecord | null> {
    const r = parseJson<HostDriftRecord>(await this.redis.get(keys.drift(this.prefix, region, host)));
    return r && Array.isArray(r.items) ? r : null;
  }

  async putDrift(rec: HostDriftRecord): Promise<void> {
    await this.redis.set(keys.drift(this.prefix, rec.region, rec.host), JSON.stringify(rec));
  }

  /** The image cache records of `hosts`, in order (one MGET). */
  async imageCaches(hosts: readonly HostRef[]): Promise<Array<ImageCacheRecord | null>> {
    if (hosts.length === 0) return [];
    const raw = await this.redis.mget(...hosts.map((h) => keys.imageCache(this.prefix, h.region, h.host)));
    return hosts.map((_, i) => {
      const r = parseJson<ImageCacheRecord>(raw[i] ?? null);
      return r && typeof r.images === 'object' && r.images !== null ? r : null;
    });
  }

  async putImageCache(region: string, host: string, rec: ImageCacheRecord): Promise<void> {
    await this.redis.set(keys.imageCache(this.prefix, region, host), JSON.stringify(rec));
  }
}

function parseJson<T>(raw: string | null): T | null {
  if (!raw) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}

/** An entry as stored; VMs written before addresses and guest existed (issue 14), or snapshots (issue 15), lack them. */
function parseEntry(raw: string | null): InventoryEntry | null {
  const e = parseJson<InventoryEntry>(raw);
  if (!e || !Array.isArray(e.vms)) return null;
  return { ...e, vms: e.vms.map(withGuestDefaults) };
}

function withGuestDefaults(vm: InventoryVm): InventoryVm {
  const v = vm as Partial<InventoryVm> & Omit<InventoryVm, 'addresses' | 'guest' | 'snapshots'>;
  return {
    ...v,
    addresses: Array.isArray(v.addresses) ? v.addresses : [],
    guest: { ...GUEST_UNKNOWN, ...v.guest },
    snapshots: Array.isArray(v.snapshots) ? v.snapshots : [],
  };
}
