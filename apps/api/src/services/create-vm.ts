/**
 * Creating a VM: validates the create against the configuration, places it (or checks the pinned
 * host), reserves its name and room, and queues the job.
 */

import { READY_TIMEOUT_DEFAULT_S } from '@provisioner/contracts';
import type { CreateBody } from '@provisioner/contracts/api';
import type { Job } from 'bullmq';
import { reserve } from '../admission/reserve.ts';
import { ownedTags, type Requester } from '../caller.ts';
import type { Services } from '../context.ts';
import { ApiError } from '../errors.ts';
import { decodeUserData, findImage, findInstanceType, findRegion } from '../validation.ts';

/**
 * Validates a create against the configuration, has admission choose its host by free capacity (or
 * check the pinned one) and reserve the name and room there, then queues it. 409 when the name is taken in the
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
  const { host, release } = await reserve(s, { kind: 'create', region, vm_name: body.vm_name, type, pin: body.host });
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
    await release().catch(() => undefined);
    throw e;
  }
}
