import { GUEST_UNKNOWN, type HostInfoRecord, type InventoryEntry, type InventoryVm, type VmAddress, type VmGuest } from '@provisioner/contracts';
import { type DomainInfo, DomainNotFoundError, type GuestStatus, type Hypervisor } from '@provisioner/libvirt';
import type { InventoryStore, VmLedger } from '@provisioner/store';
import { collectDrift } from './drift.ts';
import { type VmEvent, vmEvents } from './vm-events.ts';

/** Told the VM events a listing or a VM's patch means (webhooks); its failure never fails the listing. */
export type OnVmEvents = (events: VmEvent[]) => Promise<void>;

/** How long one guest agent call of a listing may take (a silent guest costs a listing at most a few of these). */
const AGENT_TIMEOUT_S = 2;

/**
 * The VM's addresses and guest from what is known now: the listing's lease addresses `d.addresses`, the
 * guest status `g` when its guest was asked about this time (it was running and not known ready), and
 * `prev`, the VM's last inventory record (same domain). What the agent or ARP said last is kept while the
 * guest is not asked again (a ready VM on a bridged network has no lease), and while it is paused; a VM that
 * is stopped has none. `ready` comes once cloud-init is done and, where the VM has a NIC, an address is known, and stays.
 */
export function guestFields(
  d: Pick<DomainInfo, 'state' | 'macs' | 'addresses'>,
  g: GuestStatus | undefined,
  prev: Pick<InventoryVm, 'addresses' | 'guest'> | undefined,
  now: string,
): Pick<InventoryVm, 'addresses' | 'guest' | 'ip'> {
  const running = d.state === 'running';
  // A paused VM (virsh suspend, libvirt pausing it on an I/O error or a full disk) or one suspended to RAM
  // keeps its guest's memory, so its addresses and agent are as they were: kept, not dropped as a stopped
  // VM's (its guest is not asked while it does not run).
  const frozen = d.state === 'paused' || d.state === 'pmsuspended';
  // The guest status's own lease addresses (virsh domifaddr) repeat the listing's: kept once.
  const others = !running && !frozen ? [] : g && running ? g.addresses : (prev?.addresses ?? []).filter((a) => a.source !== 'lease');
  const addresses: VmAddress[] = [];
  for (const a of [...d.addresses, ...others]) if (!addresses.some((x) => x.ip === a.ip && x.source === a.source)) addresses.push(a);
  const before = prev?.guest ?? GUEST_UNKNOWN;
  let guest: VmGuest;
  if (g && running) {
    const ready = before.ready || (g.cloud_init === 'done' && (d.macs.length === 0 || addresses.length > 0));
    guest = { agent: g.agent, cloud_init: g.cloud_init, ready, ready_at: before.ready_at ?? (ready ? now : null) };
  } else {
    guest = { ...before, agent: running || frozen ? before.agent : 'absent' };
  }
  return { addresses, guest, ip: addresses.find((a) => a.family === 'ipv4')?.ip ?? null };
}

/**
 * The VMs whose guest agent a listing need not ask: known ready and, when running, with what their agent said
 * kept. A ready VM that ran again after a stop, a revert or a re-read in a paused moment lost its agent's
 * addresses (a stopped VM has none): its agent is asked again, or they would never come back.
 */
export function agentKnown(vms: readonly Pick<InventoryVm, 'name' | 'state' | 'guest' | 'addresses'>[]): string[] {
  return vms.filter((v) => v.guest.ready && (v.state !== 'running' || v.addresses.some((a) => a.source === 'agent'))).map((v) => v.name);
}

/** The inventory record of a listed domain; `prev` is its last record when it is the same domain (same UUID). */
export function toInventoryVm(d: DomainInfo, g?: GuestStatus, prev?: InventoryVm, now = new Date().toISOString()): InventoryVm {
  const same = prev && prev.uuid === d.uuid ? prev : undefined;
  return {
    name: d.name,
    uuid: d.uuid,
    dom_id: d.id,
    state: d.state,
    managed: d.managed,
    tags: d.tags,
    vcpus: d.vcpus,
    memory_mb: d.memoryMiB,
    image: d.image,
    instance_type: d.instanceType,
    snapshots: d.snapshots.map((s) => ({
      name: s.name,
      created_at: s.createdAt,
      state: s.state,
      instance_type: s.instanceType,
      vcpus: s.vcpus,
      memory_mb: s.memoryMiB,
    })),
    ...guestFields(d, g, same, now),
  };
}

/**
 * Reads the host's CPUs, memory and free disk in its images and disks directories (one SSH exec) and publishes
 * them for the API's placement, which never opens SSH. A failure keeps the last published info.
 */
export async function publishHostInfo(store: InventoryStore, region: string, host: string, hv: Hypervisor): Promise<HostInfoRecord> {
  const i = await hv.hostInfo({ timeoutMs: 30_000 });
  const rec: HostInfoRecord = {
    observed_at: new Date().toISOString(),
    cpus: i.cpus,
    memory_mb: Math.floor(i.memoryMiB),
    memory_available_mb: Math.floor(i.memoryAvailableMiB),
    // Placement needs room for images and disks: the smaller of the two file systems when they differ.
    disk_free_bytes: Math.min(i.imagesDirFreeBytes, i.disksDirFreeBytes ?? Number.POSITIVE_INFINITY),
    disk_total_bytes: i.disksDirFreeBytes !== null && i.disksDirFreeBytes < i.imagesDirFreeBytes ? (i.disksDirTotalBytes ?? 0) : i.imagesDirTotalBytes,
    kvm: i.kvm,
  };
  await store.putHostInfo(region, host, rec);
  return rec;
}

/**
 * Lists one host (one SSH exec, which also asks the guests of running VMs not known ready yet about their
 * agent, cloud-init and addresses) and writes its inventory entry. A failure is recorded in the entry
 * (with when it was attempted) and the last good listing is kept.
 */
export async function refreshInventory(
  store: InventoryStore,
  region: string,
  host: string,
  hv: Hypervisor,
  drift?: { ledger: VmLedger; disksDir: string; graceMs: number },
  onVmEvents?: OnVmEvents,
): Promise<InventoryEntry> {
  const now = new Date().toISOString();
  try {
    // The patch counter before listing: an operation that patches a VM while the host is being listed wins over the listing.
    const [last, since] = await Promise.all([store.entry(region, host), store.patchSeq(region, host)]);
    const old = new Map((last?.vms ?? []).map((v) => [v.name, v]));
    const skipAgent = agentKnown([...old.values()]);
    const [{ domains, guests, files }] = await Promise.all([
      hv.listDomainsWithGuests({ timeoutMs: 60_000, skipAgent, agentTimeoutS: AGENT_TIMEOUT_S }),
      publishHostInfo(store, region, host, hv).catch(() => null),
    ]);
    const vms = domains.map((d) => toInventoryVm(d, guests.get(d.name), old.get(d.name), now));
    const entry: InventoryEntry = { region, host, observed_at: now, attempted_at: now, error: null, vms };
    await store.putListedEntry(entry, since);
    if (onVmEvents) {
      const o = { stateChanges: true, hostKnown: Boolean(last?.observed_at), now };
      const events = vms.flatMap((v) => vmEvents(region, host, old.get(v.name), v, o));
      if (events.length) await onVmEvents(events).catch(() => undefined);
    }
    // The drift report comes from the same listing; failing to make it does not fail the refresh (the last report stays).
    if (drift && files) {
      await collectDrift(drift.ledger, region, host, { domains, files }, drift.disksDir, drift.graceMs)
        .then((rec) => store.putDrift(rec))
        .catch(() => undefined);
    }
    return entry;
  } catch (e) {
    await recordHostError(store, region, host, (e as Error).message);
    throw e;
  }
}

/**
 * Records why a host could not be reached in its entry (what /ready shows), keeping the last good listing.
 * Written as a listing is (putListedEntry from the patch counter read first), so a VM an operation patched
 * between this read and write keeps its patch instead of the older copy.
 */
async function recordHostError(store: InventoryStore, region: string, host: string, error: string): Promise<void> {
  const since = await store.patchSeq(region, host);
  const old = await store.entry(region, host);
  const entry: InventoryEntry = { region, host, observed_at: old?.observed_at ?? null, attempted_at: new Date().toISOString(), error, vms: old?.vms ?? [] };
  await store.putListedEntry(entry, since);
}

/** Which VM `updateInventoryVm` patches, and what the operation already knows of it. */
export interface VmPatch {
  store: InventoryStore;
  hv: Hypervisor;
  region: string;
  host: string;
  name: string;
  /** The guest, when the operation just asked it (a create that waited for its guest). */
  guest?: GuestStatus | undefined;
  /** The domain, when the operation's own last exec read it (a create): not read again. */
  seen?: DomainInfo | undefined;
  onVmEvents?: OnVmEvents;
}

/**
 * After an operation on one VM: reads just that domain (one SSH exec, whatever the number of domains
 * on the host) and patches the host's inventory entry, keeping what the last listing knew of its
 * addresses and guest (a single domain's read has no leases), or taking `guest` when given. Falls back
 * to listing the whole host when the host has no entry yet.
 */
export async function updateInventoryVm({ store, hv, region, host, name, guest, seen, onVmEvents }: VmPatch): Promise<void> {
  let vm: InventoryVm | null = null;
  try {
    const d = seen ?? (await hv.getDomain(name, { timeoutMs: 60_000 }));
    const prev = (await store.entry(region, host))?.vms.find((v) => v.name === name);
    const leases = prev?.uuid === d.uuid ? prev.addresses.filter((a) => a.source === 'lease') : [];
    vm = toInventoryVm({ ...d, addresses: leases }, guest, prev);
    // The service's own operation: its state changes are no news, its guest becoming ready is (vm.ready).
    const events = vmEvents(region, host, prev, vm, { stateChanges: false, hostKnown: true, now: new Date().toISOString() });
    if (onVmEvents && events.length) await onVmEvents(events).catch(() => undefined);
  } catch (e) {
    if (!(e instanceof DomainNotFoundError)) {
      // The host itself failed (unreachable, or it presents another key): say so in its entry.
      await recordHostError(store, region, host, (e as Error).message).catch(() => undefined);
      throw e;
    }
  }
  if (!(await store.patchVm(region, host, name, vm))) await refreshInventory(store, region, host, hv);
}
