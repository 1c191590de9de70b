/**
 * Host maintenance: which hosts are cordoned (get no new VMs), by whom, when and why. One JSON record per
 * cordoned host, kept until it is uncordoned (no TTL: a cordon outlives API restarts). The API writes it
 * (admin routes) and placement reads it with the hosts' other state.
 */
import type { Redis } from 'ioredis';
import type { HostRef } from './inventory-store.ts';
import { keys } from './keys.ts';

export interface HostCordon {
  /** Name of the token that cordoned the host. */
  cordoned_by: string;
  cordoned_at: string;
  reason: string | null;
}

export class CordonStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Cordons the host (again: the record then says who did it last, when and why). */
  async cordon(region: string, host: string, by: string, reason: string | null, now = new Date()): Promise<HostCordon> {
    const rec: HostCordon = { cordoned_by: by, cordoned_at: now.toISOString(), reason };
    await this.redis.set(keys.hostCordon(this.prefix, region, host), JSON.stringify(rec));
    return rec;
  }

  /** Lifts the host's cordon; false when it was not cordoned. */
  async uncordon(region: string, host: string): Promise<boolean> {
    return (await this.redis.del(keys.hostCordon(this.prefix, region, host))) > 0;
  }

  async get(region: string, host: string): Promise<HostCordon | null> {
    return parse(await this.redis.get(keys.hostCordon(this.prefix, region, host)));
  }

  /** The cordons of `hosts`, in order (one MGET); null for a host that is not cordoned. */
  async many(hosts: readonly HostRef[]): Promise<Array<HostCordon | null>> {
    if (hosts.length === 0) return [];
    const raw = await this.redis.mget(...hosts.map((h) => keys.hostCordon(this.prefix, h.region, h.host)));
    return hosts.map((_, i) => parse(raw[i] ?? null));
  }
}

/** A record as stored; one that cannot be read still cordons the host (safer than placing VMs on it). */
function parse(raw: string | null): HostCordon | null {
  if (raw === null) return null;
  try {
    const r = JSON.parse(raw) as Partial<HostCordon>;
    return {
      cordoned_by: String(r.cordoned_by ?? 'unknown'),
      cordoned_at: String(r.cordoned_at ?? ''),
      reason: typeof r.reason === 'string' ? r.reason : null,
    };
  } catch {
    return { cordoned_by: 'unknown', cordoned_at: '', reason: 'unreadable cordon record' };
  }
}
