/**
 * Which VM events a change of a VM's inventory record means (pure): `vm.ready` when its guest became ready
 * (the same domain was not ready before), `vm.state_changed` when its state differs from the last record's.
 * Whether a state change was the service's own doing is the caller's question (an operation in the VM's line).
 */
import type { InventoryVm, VmEventData, VmEventType } from '@provisioner/contracts';

export interface VmEvent {
  type: VmEventType;
  /** Tells one occurrence from another (the delivery ids depend on it): vm.ready once per domain. */
  instance: string;
  data: VmEventData;
}

/**
 * `before` is the VM's last record (any domain of that name), `after` the one just made. `hostKnown`: the host
 * was listed before (a first listing after the service starts announces nothing: every VM would look new).
 */
export function vmEvents(
  region: string,
  host: string,
  before: InventoryVm | undefined,
  after: InventoryVm,
  o: { stateChanges: boolean; hostKnown: boolean; now: string },
): VmEvent[] {
  const same = before && before.uuid === after.uuid ? before : undefined;
  const data = (extra: Partial<VmEventData> = {}): VmEventData => ({
    region,
    host,
    vm_name: after.name,
    uuid: after.uuid,
    state: after.state,
    addresses: after.addresses.map((a) => ({ ip: a.ip, family: a.family, source: a.source })),
    ip: after.ip,
    observed_at: o.now,
    ...extra,
  });
  const out: VmEvent[] = [];
  if (after.guest.ready && !same?.guest.ready && (same || o.hostKnown)) out.push({ type: 'vm.ready', instance: after.uuid, data: data() });
  if (o.stateChanges && same && same.state !== after.state) {
    out.push({ type: 'vm.state_changed', instance: `${after.uuid}:${same.state}>${after.state}:${o.now}`, data: data({ previous_state: same.state }) });
  }
  return out;
}
