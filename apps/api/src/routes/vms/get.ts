/** `GET /v1/vms/{region}/{name}`: one VM, or its pending item while its create has not run yet. */

import { GUEST_UNKNOWN } from '@provisioner/contracts';
import { VmItem as VmItemSchema } from '@provisioner/contracts/api';
import { z } from 'zod';
import { callerOwner, requester } from '../../caller.ts';
import { vmNotFound } from '../../errors.ts';
import type { VmItem } from '../../inventory.ts';
import { defineRoute } from '../../route.ts';
import { VmPath } from '../../schemas.ts';
import { resolveTarget, type Target, vmOwner } from '../../services/operate-vm.ts';
import { validate } from '../../validation.ts';
import { Bool } from './list.ts';
import { pathTarget } from './operate.ts';

/** A VM whose create is accepted but has not run yet: its host is chosen, libvirt does not know it. */
function pendingItem(t: Target, host: string): VmItem {
  return {
    vm_name: t.vm_name,
    region_name: t.region,
    host,
    dom_id: null,
    state: 'pending',
    managed: true,
    tags: {},
    ip: null,
    addresses: [],
    guest: GUEST_UNKNOWN,
    vcpus: null,
    memory_mb: null,
    image: null,
    instance_type: null,
    snapshots: [],
    observed_at: null,
    transition: null,
  };
}

export const VmQuery = z.strictObject({ refresh: Bool.default(false) });

export default defineRoute({
  method: 'get',
  path: '/v1/vms/{region}/{name}',
  tag: 'vms',
  summary: 'Read one VM',
  description:
    'From the inventory. `refresh=true` lists the VM’s region first (bounded by `refresh_wait_ms`): a `refresh` job per host, removed as soon as it ends, so it never shortens the history of operations (`retention_max_jobs`) nor stays in `GET /v1/jobs`.',
  auth: 'read',
  needsRedis: true,
  request: { params: VmPath, query: VmQuery },
  responses: { 200: { description: 'The VM', schema: VmItemSchema } },
  errors: ['NOT_FOUND', 'VALIDATION'],
  handler: async (c, s) => {
    const t = pathTarget(c);
    const region = resolveTarget(s, t, 'path');
    if (validate(VmQuery, c.req.query()).refresh) await s.refresher.refresh([region], requester(c));
    const loc = await s.inventory.locate(region, t.vm_name);
    const owner = callerOwner(c);
    if (loc && owner !== null && (await vmOwner(s, t.region, t.vm_name, loc.vm)) !== owner) throw vmNotFound(t.region, t.vm_name);
    if (loc?.vm) return c.json((await s.inventory.withTransitions([loc.vm]))[0]);
    if (loc && (await s.inventory.hasPendingOps(t.region, t.vm_name))) return c.json((await s.inventory.withTransitions([pendingItem(t, loc.host)]))[0]);
    throw vmNotFound(t.region, t.vm_name);
  },
});
