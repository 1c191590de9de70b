/**
 * The API's view of the VMs: the inventory workers keep in Redis (one JSON entry per host, stamped
 * with when it was observed), the host each VM lives on, and on-demand refreshes (a `refresh` job per
 * host, waited for within config.refresh_wait_ms). The API never opens SSH.
 */
import {
  type Config,
  type HostInfoRecord,
  hostQueueName,
  type InventoryEntry,
  type InventoryVm,
  type JobKind,
  NO_PENDING,
  type PendingTotals,
  type RegionConfig,
  toJobView,
} from '@provisioner/contracts';
import type { InventoryStore, JobQueue, VmLedger } from '@provisioner/store';
import type { Logger } from 'pino';
import { type HostState, type Need, type Placement, place } from './placement.ts';
import type { JobWatcher } from './watch.ts';

/** One VM as the API shows it. */
export interface VmItem {
  vm_name: string;
  region_name: string;
  host: string;
  dom_id: number | null;
  /** libvirt's state text (`running`, `shut off`, …), or `pending` while its create has not run yet. */
  state: string;
  managed: boolean;
  tags: Record<string, string>;
  ip: string | null;
  vcpus: number | null;
  memory_mb: number | null;
  image: string | null;
  instance_type: string | null;
  /** When the host was last listed (how fresh this is). */
  observed_at: string | null;
  /**
   * The operation working on the VM right now (`state` changes only once it is done and the host listed
   * again): its kind, its job and what it waits for. Null when no job runs on it.
   */
  transition: Transition | null;
}

export interface Transition {
  kind: JobKind;
  job_id: string;
  /** The running step's detail (e.g. `graceful shutdown; forcing in 47 s`), else the step's name. */
  detail: string | null;
}

export interface HostStatus {
  region: string;
  host: string;
  observed_at: string | null;
  error: string | null;
}

export interface HostEntry {
  region: string;
  host: string;
  entry: InventoryEntry | null;
}

export function toVmItem(region: string, host: string, vm: InventoryVm, observedAt: string | null): VmItem {
  return {
    vm_name: vm.name,
    region_name: region,
    host,
    dom_id: vm.dom_id,
    state: vm.state,
    managed: vm.managed,
    tags: vm.tags ?? {},
    ip: vm.ip,
    vcpus: vm.vcpus,
    memory_mb: vm.memory_mb,
    image: vm.image,
    instance_type: vm.instance_type,
    observed_at: observedAt,
    transition: null,
  };
}

export function hostStatus(h: HostEntry): HostStatus {
  return {
    region: h.region,
    host: h.host,
    observed_at: h.entry?.observed_at ?? null,
    error: h.entry ? h.entry.error : 'not observed yet',
  };
}

export function vmItems(hosts: HostEntry[]): VmItem[] {
  return hosts.flatMap((h) => (h.entry?.vms ?? []).map((vm) => toVmItem(h.region, h.host, vm, h.entry?.observed_at ?? null)));
}

export class Inventory {
  /** Refreshes in flight per host: concurrent list requests share one refresh job. */
  private readonly inflight = new Map<string, Promise<void>>();
  /** Queue-depth reads in flight per region (queuedOps). */
  private readonly queuedInflight = new Map<string, Promise<Map<string, number>>>();

  constructor(
    private readonly config: Config,
    private readonly store: InventoryStore,
    private readonly ledger: VmLedger,
    private readonly queues: JobQueue,
    private readonly watcher: JobWatcher,
    private readonly logger: Logger,
  ) {}

  /** The inventory entries of the regions' hosts (one MGET). */
  async entries(regions: readonly RegionConfig[]): Promise<HostEntry[]> {
    const hosts = regions.flatMap((r) => r.hosts.map((h) => ({ region: r.region_name, host: h.name })));
    if (hosts.length === 0) return [];
    const found = await this.store.entries(hosts);
    return hosts.map((h, i) => ({ ...h, entry: found[i] ?? null }));
  }

  /**
   * Where a VM lives: the host recorded when its create was accepted, else the first host whose
   * inventory lists it. `vm` is its inventory record (null while its create has not run).
   */
  async locate(region: RegionConfig, name: string): Promise<{ host: string; vm: VmItem | null } | null> {
    const [recorded, entries] = await Promise.all([this.ledger.hostOf(region.region_name, name), this.entries([region])]);
    const found = vmItems(entries).filter((v) => v.vm_name === name);
    const onRecorded = found.find((v) => v.host === recorded);
    if (onRecorded) return { host: onRecorded.host, vm: onRecorded };
    if (recorded && region.hosts.some((h) => h.name === recorded)) return { host: recorded, vm: null };
    const first = found[0];
    return first ? { host: first.host, vm: first } : null;
  }

  /**
   * The items with their `transition`: the first operation in each VM's line (per-VM ordering: only it
   * may run), when it is running. One pipelined read of the lines; jobs are read only for VMs that have one.
   */
  async withTransitions(items: VmItem[]): Promise<VmItem[]> {
    if (items.length === 0) return items;
    const heads = await this.ledger.heads(items.map((v) => ({ region: v.region_name, vm: v.vm_name })));
    return Promise.all(
      items.map(async (v, i) => {
        const id = heads[i];
        const found = id ? await this.queues.find(id) : null;
        if (found?.state !== 'active') return v;
        const view = toJobView(found.job, found.state);
        const step = view.steps.find((st) => st.name === view.step);
        return { ...v, transition: { kind: view.kind, job_id: view.id, detail: step?.detail ?? view.step } };
      }),
    );
  }

  /** Whether operations on the VM are still queued (its create may not have run yet). */
  async hasPendingOps(region: string, name: string): Promise<boolean> {
    return this.ledger.hasOps(region, name);
  }

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
    const [entries, info, ops, running] = await Promise.all([
      this.entries([region]),
      this.hostInfo([region]),
      this.queuedOps(region),
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
        entry: entries.find((e) => e.host === h.name)?.entry ?? null,
        info: info.get(`${name}/${h.name}`) ?? null,
        pending: pending.get(h.name) ?? NO_PENDING,
        queued: ops.get(h.name) ?? 0,
      }));
    return { states, entries };
  }

  /**
   * Lists the regions' hosts again through the workers (a `refresh` job per host) and waits for them,
   * at most config.refresh_wait_ms in all. A host that does not answer in time keeps its last entry;
   * its `observed_at` says how old that is.
   */
  async refresh(regions: readonly RegionConfig[], by: { submitted_by: string; request_id: string }): Promise<void> {
    const deadline = Date.now() + this.config.refresh_wait_ms;
    const hosts = regions.flatMap((r) => r.hosts.map((h) => ({ region: r.region_name, host: h.name })));
    await Promise.all(
      hosts.map((h) => {
        const key = `${h.region}/${h.host}`;
        let p = this.inflight.get(key);
        if (!p) {
          p = this.refreshHost(h.region, h.host, by, deadline).finally(() => this.inflight.delete(key));
          this.inflight.set(key, p);
        }
        return Promise.race([p, new Promise<void>((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
      }),
    );
  }

  private async refreshHost(region: string, host: string, by: { submitted_by: string; request_id: string }, deadline: number): Promise<void> {
    const job = await this.queues.submit({ kind: 'refresh', region, host, ...by });
    const queue = this.queues.get(job.queueName);
    const end = await this.watcher.waitFor(queue, String(job.id), Math.max(1, deadline - Date.now()));
    if (end?.state !== 'succeeded')
      this.logger.warn({ region, host, job_id: job.id, state: end?.state ?? 'gone', request_id: by.request_id }, 'inventory refresh did not finish in time');
  }
}
