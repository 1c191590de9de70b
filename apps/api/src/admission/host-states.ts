/**
 * What admission knows of each host of a region — its inventory entry, the host info workers publish,
 * the creates not listed yet, its cordon and its queued operations — read from Redis, and the choice of a
 * host from them (placement.ts). reserve.ts reserves the room on the chosen host; the regions route shows
 * the same host states.
 */
import { type Config, type HostInfoRecord, hostQueueName, NO_PENDING, type PendingTotals, type RegionConfig } from '@provisioner/contracts';
import type { CordonStore, InventoryStore, JobQueue, VmLedger } from '@provisioner/store';
import type { HostEntry, Inventory } from '../inventory.ts';
import type { HostState, Need } from './capacity.ts';
import { type Placement, place } from './placement.ts';

export class Placer {
  /** Queue-depth reads in flight per region (queuedOps). */
  private readonly queuedInflight = new Map<string, Promise<Map<string, number>>>();

  constructor(
    private readonly config: Config,
    private readonly inventory: Inventory,
    private readonly store: InventoryStore,
    private readonly ledger: VmLedger,
    private readonly queues: JobQueue,
    private readonly cordons: CordonStore,
  ) {}

  /** Host info per `region/host` as last read from Redis, reused for config.placement.host_info_cache_ms. */
  private hostInfoCache: { at: number; info: Map<string, HostInfoRecord | null> } | null = null;

  /** The host info workers published for the regions' hosts (one MGET, cached briefly). */
  async hostInfo(regions: readonly RegionConfig[]): Promise<Map<string, HostInfoRecord | null>> {
    const hosts = regions.flatMap((r) => r.hosts.map((h) => ({ id: `${r.region_name}/${h.name}`, region: r.region_name, host: h.name })));
    const cached = this.hostInfoCache;
    if (cached && Date.now() - cached.at < this.config.placement.host_info_cache_ms && hosts.every((h) => cached.info.has(h.id))) return cached.info;
    const info = new Map(cached?.info);
    if (hosts.length) {
      const found = await this.store.hostInfo(hosts);
      for (const [i, h] of hosts.entries()) info.set(h.id, found[i] ?? null);
    }
    this.hostInfoCache = { at: Date.now(), info };
    return info;
  }

  /**
   * Exact pending totals of each of the region's hosts: entries whose VM the inventory lists now (counted
   * there) or whose name is no longer reserved for the host (a canceled or failed create) are dropped,
   * and the totals recounted from what is left. Reads the whole backlog: only for a create that the
   * running totals say does not fit, and for the admin view.
   */
  private async sweptTotals(region: RegionConfig, entries: HostEntry[]): Promise<Map<string, PendingTotals>> {
    const out = new Map<string, PendingTotals>();
    await Promise.all(
      entries.map(async (e) => {
        const listed = new Set((e.entry?.vms ?? []).map((v) => v.name));
        out.set(e.host, await this.ledger.sweep(region.region_name, e.host, listed));
      }),
    );
    return out;
  }

  /**
   * Where a new VM of `need` goes (placement.ts): by free capacity from the inventory, the host info
   * workers publish, creates not listed yet and each host's queued operations; only `pin` when given.
   * Returns the hosts' states and the entries too, so the caller can reserve the room and check the name
   * is free. `exact` sweeps the pending creates first (sweptTotals); otherwise their running totals count.
   */
  async chooseHost(
    region: RegionConfig,
    need: Need,
    opts: { pin?: string | undefined; exact: boolean },
  ): Promise<{ placement: Placement; states: HostState[]; entries: HostEntry[] }> {
    const { states, entries } = await this.hostStates(region, opts);
    return { placement: place(states, need, this.config.placement), states, entries };
  }

  /**
   * Operations waiting or running on each of the region's hosts (advisory: they only order hosts).
   * Concurrent callers in this process share the read in flight instead of each asking every queue.
   */
  queuedOps(region: RegionConfig): Promise<Map<string, number>> {
    const name = region.region_name;
    let p = this.queuedInflight.get(name);
    if (!p) {
      p = Promise.all(
        region.hosts.map(async (h) => {
          const c = await this.queues.get(hostQueueName(name, h.name)).getJobCounts('waiting', 'active', 'prioritized', 'delayed');
          return [h.name, Object.values(c).reduce((a, n) => a + n, 0)] as const;
        }),
      )
        .then((counts) => new Map(counts))
        .finally(() => this.queuedInflight.delete(name));
      this.queuedInflight.set(name, p);
    }
    return p;
  }

  /** What placement knows of each of the region's hosts (only `pin` when given). */
  async hostStates(region: RegionConfig, opts: { pin?: string | undefined; exact?: boolean } = {}): Promise<{ states: HostState[]; entries: HostEntry[] }> {
    const name = region.region_name;
    // The cordons are read with the rest, in parallel (never cached: an uncordon counts at once).
    const [entries, info, ops, cordons, running] = await Promise.all([
      this.inventory.entries([region]),
      this.hostInfo([region]),
      this.queuedOps(region),
      this.cordons.many(region.hosts.map((h) => ({ region: name, host: h.name }))),
      opts.exact === false
        ? this.ledger.totals(
            name,
            region.hosts.map((h) => h.name),
          )
        : null,
    ]);
    const pending = running ?? (await this.sweptTotals(region, entries));
    const states = region.hosts
      .filter((h) => opts.pin === undefined || h.name === opts.pin)
      .map((h) => ({
        host: h,
        cordon: cordons[region.hosts.indexOf(h)] ?? null,
        entry: entries.find((e) => e.host === h.name)?.entry ?? null,
        info: info.get(`${name}/${h.name}`) ?? null,
        pending: pending.get(h.name) ?? NO_PENDING,
        queued: ops.get(h.name) ?? 0,
      }));
    return { states, entries };
  }
}
