/**
 * The hosts as the workers last saw them, one JSON record per host each: its inventory entry (the VMs
 * listed), its host info (CPUs, memory, free disk, for placement) and its image cache. Workers write;
 * the API, which never opens SSH, reads.
 */

import { randomBytes } from 'node:crypto';
import {
  GUEST_UNKNOWN,
  type HostDriftRecord,
  type HostInfoRecord,
  type ImageCacheRecord,
  type ImageCacheRunError,
  type InventoryEntry,
  type InventoryVm,
} from '@provisioner/contracts';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { runScript } from './scripts.ts';

export interface HostRef {
  region: string;
  host: string;
}

export class InventoryStore {
  /**
   * Parsed entries by inventory key, with the version they were read at (a random token written with each
   * write: unlike a counter, it cannot come back to a value seen before when the keys are deleted and rewritten). An entry of 5 000 VMs is megabytes
   * of JSON: a reader whose copy is current reads only the hosts' version counters.
   */
  private readonly parsed = new Map<string, { version: string; entry: InventoryEntry | null }>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /**
   * The inventory entries of `hosts`, in order; null for a host not listed yet or unreadable. One MGET of
   * the hosts' version counters, and one MGET (version and entry together, so they agree) of the hosts
   * whose entry changed since this process last parsed it. The entries returned are shared: read-only.
   */
  async entries(hosts: readonly HostRef[]): Promise<Array<InventoryEntry | null>> {
    if (hosts.length === 0) return [];
    const invKeys = hosts.map((h) => keys.inventory(this.prefix, h.region, h.host));
    const verKeys = hosts.map((h) => keys.inventoryVersion(this.prefix, h.region, h.host));
    const versions = await this.redis.mget(...verKeys);
    const out: Array<InventoryEntry | null> = new Array(hosts.length).fill(null);
    const stale: number[] = [];
    for (const [i, v] of versions.entries()) {
      const known = this.parsed.get(invKeys[i] as string);
      if (v !== null && known?.version === v) out[i] = known.entry;
      else stale.push(i);
    }
    if (stale.length === 0) return out;
    const raw = await this.redis.mget(...stale.flatMap((i) => [verKeys[i] as string, invKeys[i] as string]));
    for (const [k, i] of stale.entries()) {
      const version = raw[2 * k] ?? null;
      const entry = parseEntry(raw[2 * k + 1] ?? null);
      out[i] = entry;
      // An entry written without its counter (none yet) is read every time.
      if (version !== null) this.parsed.set(invKeys[i] as string, { version, entry });
      else this.parsed.delete(invKeys[i] as string);
    }
    return out;
  }

  async entry(region: string, host: string): Promise<InventoryEntry | null> {
    return parseEntry(await this.redis.get(keys.inventory(this.prefix, region, host)));
  }

  /** Writes the host's entry and gives it a new version, atomically (MULTI): for tests and fixtures; the worker writes by putListedEntry or patchVm, which keep concurrent patches. */
  async putEntry(entry: InventoryEntry): Promise<void> {
    await this.redis
      .multi()
      .set(keys.inventory(this.prefix, entry.region, entry.host), JSON.stringify(entry))
      .set(keys.inventoryVersion(this.prefix, entry.region, entry.host), newVersion())
      .exec();
  }

  /** The host's patch counter: read before listing the host, handed to putListedEntry with the listing. */
  async patchSeq(region: string, host: string): Promise<number> {
    return Number((await this.redis.hget(keys.inventoryPatches(this.prefix, region, host), '#seq')) ?? 0);
  }

  /**
   * Writes the host's entry from a listing that began when the patch counter was `since` (patchSeq): a VM
   * patched since (deleted, created, stopped by an operation that ended while the host was being listed) keeps
   * its patched form, or its absence, instead of the older listing's. One script, so no patch slips in between.
   */
  async putListedEntry(entry: InventoryEntry, since: number): Promise<void> {
    const { vms, ...head } = entry;
    await runScript(this.redis, 'putListedEntry', this.hostKeys(entry.region, entry.host), [
      JSON.stringify(head),
      since,
      newVersion(),
      ...vms.flatMap((v) => [v.name, JSON.stringify(v)]),
    ]);
  }

  /**
   * Replaces (or, with `vm` null, removes) VM `name` in the host's entry, atomically. False when the host
   * has no entry yet (then list the whole host).
   */
  async patchVm(region: string, host: string, name: string, vm: InventoryVm | null): Promise<boolean> {
    const r = await runScript(this.redis, 'patchInventoryVm', this.hostKeys(region, host), [name, vm ? JSON.stringify(vm) : '', newVersion()]);
    return r !== 0;
  }

  private hostKeys(region: string, host: string): string[] {
    return [keys.inventory(this.prefix, region, host), keys.inventoryVersion(this.prefix, region, host), keys.inventoryPatches(this.prefix, region, host)];
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

  /**
   * Records that the host's image-cache run failed as a whole, keeping what the last run that ended saw. Not
   * atomic: a host's runs never overlap (its scheduler adds the next one when this one is done).
   */
  async putImageCacheError(region: string, host: string, error: ImageCacheRunError): Promise<void> {
    const [last] = await this.imageCaches([{ region, host }]);
    await this.putImageCache(region, host, { ...(last ?? { checked_at: null, images: {}, pruned: [] }), last_error: error });
  }
}

/** A version token of an inventory write. */
function newVersion(): string {
  return randomBytes(9).toString('base64url');
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
