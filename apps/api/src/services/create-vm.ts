/**
 * Creating a VM: validates the create against the configuration, places it (or checks the pinned
 * host), reserves its name and room, and queues the job.
 */

import { READY_TIMEOUT_DEFAULT_S } from '@provisioner/contracts';
import type { CreateBody } from '@provisioner/contracts/api';
import type { Job } from 'bullmq';
import { ownedTags, type Requester } from '../caller.ts';
import type { Services } from '../context.ts';
import { ApiError, vmExists } from '../errors.ts';
import { checkQuota, withRegionLock } from '../limits.ts';
import { type HostState, type Placement, pendingLimits } from '../placement.ts';
import { decodeUserData, findImage, findInstanceType, findRegion } from '../validation.ts';

/** A placement that found no host with room (the reason per host). */
type NoRoom = Extract<Placement, { ok: false }>;

/**
 * Validates a create against the configuration, chooses its host by free capacity (or checks the
 * pinned one) and reserves the name there (SET NX), then queues it. 409 when the name is taken in the
 * region or no host has room (the reason per host in `detail`); nothing is queued then.
 */
export async function submitCreate(s: Services, body: CreateBody, by: Requester, owner: string | null = null): Promise<Job> {
  const region = findRegion(s.config, body.region_name);
  const type = findInstanceType(region, body.instance_type);
  const image = findImage(s.config, body.image);
  const userData = decodeUserData(body.user_data);
  const tags = ownedTags(owner, body.tags);
  if (body.host !== undefined && !region.hosts.some((h) => h.name === body.host)) {
    throw new ApiError('VALIDATION', `region ${region.region_name} has no host ${body.host}`, {
      details: [{ path: 'host', message: `must be a host of region ${region.region_name}` }],
    });
  }
  const need = { vcpus: type.vcpus, memory_mb: type.memory_mb, storage_mb: type.storage_mb };
  // Places the VM and reserves its room and name on the chosen host in one step (VmLedger.reserve): the
  // host, or the placement that found no room, or null when a concurrent create took the room first.
  const placeAndReserve = async (exact: boolean): Promise<string | NoRoom | null> => {
    const { placement, states, entries } = await s.placer.chooseHost(region, need, { pin: body.host, exact });
    if (entries.some((e) => e.entry?.vms.some((v) => v.name === body.vm_name))) throw vmExists(region.region_name, body.vm_name);
    if (!placement.ok) return placement;
    const state = states.find((st) => st.host.name === placement.host) as HostState;
    const limits = pendingLimits(state, s.config.placement);
    const r = await s.ledger.reserve(region.region_name, placement.host, body.vm_name, need, limits);
    if (r.ok) return placement.host;
    if (r.reason === 'exists') throw vmExists(region.region_name, body.vm_name);
    return null;
  };

  // Fast path, without a lock: the hosts' running pending totals, checked and reserved atomically.
  let got: string | NoRoom | null = null;
  if (region.max_vms === undefined) {
    for (let i = 0; i < 3 && got === null; i++) got = await placeAndReserve(false);
  }
  // No room by the running totals (which may still count creates that are listed or canceled), or a
  // region quota to count: under the region's lock, with the pending creates swept first.
  const host =
    typeof got === 'string'
      ? got
      : await withRegionLock(s, region, async () => {
          await checkQuota(s, region, body.vm_name);
          for (let i = 0; i < 5; i++) {
            const r = await placeAndReserve(true);
            if (typeof r === 'string') return r;
            if (r !== null) {
              const why = r.reasons.map((x) => `${x.host}: ${x.reason}`).join('; ');
              // Only cordoned hosts (no host was passed over for room): the cordon is the reason.
              const cordoned = r.reasons.length > 0 && r.reasons.every((x) => x.cordoned);
              const what = cordoned
                ? `no host in region ${region.region_name} takes new VMs`
                : `no host in region ${region.region_name} has room for a ${type.instance_type} VM`;
              throw new ApiError('CONFLICT', `${what} (${why})`, {
                details: { reason: cordoned ? 'cordoned' : 'capacity', region: region.region_name, instance_type: type.instance_type, hosts: r.reasons },
              });
            }
          }
          throw new ApiError('UNAVAILABLE', 'too many creates at once in this region, try again', { headers: { 'Retry-After': '1' } });
        });
  try {
    return await s.queues.submit({
      kind: 'create',
      region: region.region_name,
      host,
      vm_name: body.vm_name,
      instance_type: type.instance_type,
      vcpus: type.vcpus,
      memory_mb: type.memory_mb,
      storage_mb: type.storage_mb,
      image,
      tags,
      user_data: userData,
      // Only a create that waits for its guest carries the wait (the legacy body has neither field).
      ...(body.wait_until === 'ready' ? { wait_until: 'ready' as const, ready_timeout_s: body.ready_timeout_s ?? READY_TIMEOUT_DEFAULT_S } : {}),
      ...by,
      ...(tags.owner !== undefined ? { owner: tags.owner } : {}),
    });
  } catch (e) {
    // Nothing was queued: free the name and the room again.
    await s.ledger.free(region.region_name, host, body.vm_name).catch(() => undefined);
    throw e;
  }
}
