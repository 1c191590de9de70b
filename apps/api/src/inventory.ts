/**
 * The API's view of the VMs (the read model): the inventory workers keep in Redis (one JSON entry per
 * host, stamped with when it was observed), the host each VM lives on and the operation working on it.
 * What placement reads lives in admission/host-states.ts, on-demand refreshes in services/refresh-hosts.ts.
 * The API never opens SSH.
 */
import { type InventoryEntry, type InventoryVm, type RegionConfig, toJobView, VM_STATES } from '@provisioner/contracts';
import type { HostStatus, SnapshotItem, VmItem } from '@provisioner/contracts/api';
import type { InventoryStore, JobQueue, VmLedger } from '@provisioner/store';

/** The views are the contract's (`@provisioner/contracts/api`): one VM, one of its snapshots, a host's listing. */
export type { HostStatus, SnapshotItem, VmItem };
/** The operation working on a VM right now (VmItem.transition). */
export type Transition = NonNullable<VmItem['transition']>;

/** libvirt's state text as the contract names it; a text it does not know is `no state` (what libvirt says of an unknown state). */
export function vmState(state: string): VmItem['state'] {
  return VM_STATES.find((known) => known === state) ?? 'no state';
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
    state: vmState(vm.state),
    managed: vm.managed,
    tags: vm.tags ?? {},
    ip: vm.ip,
    addresses: vm.addresses,
    guest: vm.guest,
    vcpus: vm.vcpus,
    memory_mb: vm.memory_mb,
    image: vm.image,
    instance_type: vm.instance_type,
    snapshots: vm.snapshots.map((x) => ({ name: x.name, created_at: x.created_at, state: x.state, instance_type: x.instance_type })),
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

/** Code-point order of (region, name, host), element by element: stable whatever the locale. */
export function compareVmItems(a: VmItem, b: VmItem): number {
  if (a.region_name !== b.region_name) return a.region_name < b.region_name ? -1 : 1;
  if (a.vm_name !== b.vm_name) return a.vm_name < b.vm_name ? -1 : 1;
  if (a.host !== b.host) return a.host < b.host ? -1 : 1;
  return 0;
}

export class Inventory {
  /** The last sorted listing and the entries it was built from (InventoryStore hands out the same objects while unchanged). */
  private sorted: { from: Array<InventoryEntry | null>; items: VmItem[] } | null = null;

  constructor(
    private readonly store: InventoryStore,
    private readonly ledger: VmLedger,
    private readonly queues: JobQueue,
  ) {}

  /** The inventory entries of the regions' hosts (one MGET). */
  async entries(regions: readonly RegionConfig[]): Promise<HostEntry[]> {
    const hosts = regions.flatMap((r) => r.hosts.map((h) => ({ region: r.region_name, host: h.name })));
    if (hosts.length === 0) return [];
    const found = await this.store.entries(hosts);
    return hosts.map((h, i) => ({ ...h, entry: found[i] ?? null }));
  }

  /**
   * Every VM of `entries` as items sorted by (region, name, host), read-only: built again only when an
   * entry changed, so a client paging through thousands of VMs does not pay for a sort per page.
   */
  sortedItems(entries: HostEntry[]): VmItem[] {
    const from = entries.map((e) => e.entry);
    const last = this.sorted;
    if (last && last.from.length === from.length && last.from.every((e, i) => e === from[i] && e !== null)) return last.items;
    const items = vmItems(entries).sort(compareVmItems);
    this.sorted = { from, items };
    return items;
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
   * A page of the sorted VMs (`pick` filters and pages them) with their transitions, in one Redis round trip
   * while the inventory is unchanged: the lines of the page the last sorted listing gives are read beside the
   * hosts' versions (one auto-pipelined write), and read again only when the page turns out to be another.
   */
  async page<P extends { vms: VmItem[] }>(regions: readonly RegionConfig[], pick: (sorted: VmItem[]) => P): Promise<{ entries: HostEntry[]; page: P }> {
    const last = this.sorted?.items;
    const guess = last ? pick(last) : null;
    const [entries, guessed] = await Promise.all([this.entries(regions), guess ? this.heads(guess.vms) : null]);
    const sorted = this.sortedItems(entries);
    // Unchanged (the same sorted items): the guess is the page, not picked again.
    const page = guess && sorted === last ? guess : pick(sorted);
    const same = guess !== null && guess.vms.length === page.vms.length && guess.vms.every((v, i) => v === page.vms[i]);
    const heads = same && guessed ? guessed : await this.heads(page.vms);
    return { entries, page: { ...page, vms: await this.transitions(page.vms, heads) } };
  }

  /**
   * The items with their `transition`: the first operation in each VM's line (per-VM ordering: only it
   * may run), when it is running. One read of the lines; jobs are read only for VMs that have one.
   */
  async withTransitions(items: VmItem[]): Promise<VmItem[]> {
    return this.transitions(items, await this.heads(items));
  }

  /** The first job in each item's line (one script). */
  private heads(items: readonly VmItem[]): Promise<Array<string | undefined>> {
    return this.ledger.heads(items.map((v) => ({ region: v.region_name, vm: v.vm_name })));
  }

  private transitions(items: VmItem[], heads: ReadonlyArray<string | undefined>): Promise<VmItem[]> {
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
}
