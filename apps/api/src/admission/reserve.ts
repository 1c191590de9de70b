/**
 * Admission: whether a create or a resize may go ahead, and where. It reserves the room (and a create's
 * name) on the host before the job is queued, so concurrent requests never count the same room twice:
 * first by the hosts' running pending totals without a lock, then, when those say no room (or a region
 * quota must be counted), once more under the region's lock with the pending entries swept.
 */
import type { InstanceType, PendingCreate, RegionConfig } from '@provisioner/contracts';
import type { Services } from '../context.ts';
import { ApiError, vmExists, vmNotFound } from '../errors.ts';
import { vmItems } from '../inventory.ts';
import { type HostState, pendingLimits, resizeMisfit } from './capacity.ts';
import { quotaVerdict } from './quota.ts';
import { withRegionLock } from './region-lock.ts';

/** A new VM of `type` in `region`, on the `pin`ned host when given (else placement chooses). */
export interface CreateAdmission {
  kind: 'create';
  region: RegionConfig;
  vm_name: string;
  type: InstanceType;
  pin?: string | undefined;
}

/** The extra room (`delta`) a VM on `host` needs to become `instance_type`. */
export interface ResizeAdmission {
  kind: 'resize';
  region: RegionConfig;
  host: string;
  vm_name: string;
  instance_type: string;
  delta: PendingCreate;
}

/** Room held on `host` until the job is queued and run; `release()` gives it back when nothing was queued. */
export interface Reservation {
  host: string;
  release(): Promise<void>;
}

/** Tries by the running totals before a create takes the lock: each lost race to a concurrent create costs one. */
const FAST_TRIES = 3;
/** Tries under the lock; lost races there mean a flood of creates from other processes: 503. */
const LOCKED_TRIES = 5;

/** One try at reserving: the host, `race` when a concurrent request took the room first, or the refusal for no room. */
type Attempt = { host: string } | 'race' | { refuse: () => ApiError };

/**
 * Reserves what `req` needs. 409 when the name is taken, the region is at its quota, no host has room
 * (the reason per host in `details`), or (resize) one is queued already; 404 when the resized VM is
 * gone; 503 when the region's lock stays busy. Nothing is reserved then.
 */
export async function reserve(s: Services, req: CreateAdmission | ResizeAdmission): Promise<Reservation> {
  const region = req.region.region_name;
  if (req.kind === 'create') {
    const host = await admit(s, {
      region: req.region,
      // A region quota is counted only under the lock: no fast path then.
      fast: req.region.max_vms === undefined,
      locked: () => checkQuota(s, req.region, req.vm_name),
      attempt: (exact) => tryCreate(s, req, exact),
    });
    return { host, release: () => s.ledger.free(region, host, req.vm_name) };
  }
  const host = await admit(s, { region: req.region, fast: true, attempt: (exact) => tryResize(s, req, exact) });
  return { host, release: () => s.ledger.releaseResize(region, host, req.vm_name) };
}

/** How one kind of request is admitted: `attempt` reserves once, by the running totals or (`exact`) swept ones. */
interface AdmitPolicy {
  region: RegionConfig;
  /** Whether to try the running totals without the lock first. */
  fast: boolean;
  /** Runs first under the lock (a create's quota count). */
  locked?: () => Promise<void>;
  attempt: (exact: boolean) => Promise<Attempt>;
}

/** The one retry policy: the fast path (when `fast`), then under the region's lock after `locked`. */
async function admit(s: Services, { region, fast, locked, attempt }: AdmitPolicy): Promise<string> {
  for (let i = 0; fast && i < FAST_TRIES; i++) {
    const r = await attempt(false);
    if (r === 'race') continue;
    if ('host' in r) return r.host;
    break;
  }
  return withRegionLock(s, region, async () => {
    await locked?.();
    for (let i = 0; i < LOCKED_TRIES; i++) {
      const r = await attempt(true);
      if (r === 'race') continue;
      if ('host' in r) return r.host;
      throw r.refuse();
    }
    throw new ApiError('UNAVAILABLE', 'too many creates at once in this region, try again', { headers: { 'Retry-After': '1' } });
  });
}

/** Places the VM and reserves its room and name on the chosen host in one step (VmLedger.reserve). */
async function tryCreate(s: Services, req: CreateAdmission, exact: boolean): Promise<Attempt> {
  const { region, type } = req;
  const need = { vcpus: type.vcpus, memory_mb: type.memory_mb, storage_mb: type.storage_mb };
  const { placement, states, entries } = await s.placer.chooseHost(region, need, { pin: req.pin, exact });
  if (entries.some((e) => e.entry?.vms.some((v) => v.name === req.vm_name))) throw vmExists(region.region_name, req.vm_name);
  if (!placement.ok) {
    const reasons = placement.reasons;
    return {
      refuse: () => {
        const why = reasons.map((x) => `${x.host}: ${x.reason}`).join('; ');
        // Only cordoned hosts (no host was passed over for room): the cordon is the reason.
        const cordoned = reasons.length > 0 && reasons.every((x) => x.cordoned);
        const what = cordoned
          ? `no host in region ${region.region_name} takes new VMs`
          : `no host in region ${region.region_name} has room for a ${type.instance_type} VM`;
        return new ApiError('CONFLICT', `${what} (${why})`, {
          details: { reason: cordoned ? 'cordoned' : 'capacity', region: region.region_name, instance_type: type.instance_type, hosts: reasons },
        });
      },
    };
  }
  const state = states.find((st) => st.host.name === placement.host) as HostState;
  const r = await s.ledger.reserve(region.region_name, placement.host, req.vm_name, need, pendingLimits(state, s.config.placement));
  if (r.ok) return { host: placement.host };
  if (r.reason === 'exists') throw vmExists(region.region_name, req.vm_name);
  return 'race';
}

/** Reserves the resize's extra room on the VM's host (VmLedger.reserveResize). */
async function tryResize(s: Services, req: ResizeAdmission, exact: boolean): Promise<Attempt> {
  const { region, host } = req;
  const { states } = await s.placer.hostStates(region, { pin: host, exact });
  const state = states[0] as HostState;
  const r = await s.ledger.reserveResize(region.region_name, host, req.vm_name, req.delta, pendingLimits(state, s.config.placement));
  if (r.ok) return { host };
  if (r.reason !== 'full') {
    if (r.reason === 'busy') throw new ApiError('CONFLICT', 'a resize of this VM is queued already');
    throw vmNotFound(region.region_name, req.vm_name);
  }
  const { field } = r;
  return {
    refuse: () => {
      const why = resizeMisfit(field, req.delta, state, s.config.placement);
      return new ApiError('CONFLICT', `host ${region.region_name}/${host} has no room to resize the VM to ${req.instance_type}: ${why}`, {
        details: { reason: 'capacity', region: region.region_name, host, instance_type: req.instance_type, why },
      });
    },
  };
}

/**
 * 409 with the reason when a new VM would take the region past its `max_vms` (under the region's lock).
 * Counted: the VMs the inventory lists plus accepted creates that have not run yet.
 */
async function checkQuota(s: Services, region: RegionConfig, name: string): Promise<void> {
  const max = region.max_vms;
  if (max === undefined) return;
  const [entries, accepted] = await Promise.all([s.inventory.entries([region]), s.ledger.acceptedNames(region.region_name)]);
  const v = quotaVerdict(
    vmItems(entries).map((x) => x.vm_name),
    accepted,
    name,
    max,
  );
  if (!v.ok) {
    throw new ApiError('CONFLICT', `region ${region.region_name} is at its quota of ${max} VMs`, {
      details: { reason: 'quota', region: region.region_name, max_vms: max, vms: v.vms },
    });
  }
}
