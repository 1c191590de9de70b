/** `GET /v1/vms/{region}/{name}`: one VM, or its pending item while its create has not run yet, with its ETag. */

import { VmItem as VmItemSchema, VmPath, VmQuery } from '@provisioner/contracts/api';
import { callerOwner, requester } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { resolveTarget } from '../../services/operate-vm.ts';
import { readVm } from '../../services/read-vm.ts';
import { pathTarget } from './operate.ts';

export default defineRoute({
  method: 'get',
  path: '/v1/vms/{region}/{name}',
  tag: 'vms',
  summary: 'Read one VM',
  description:
    'From the inventory; while its create has not run, what that create asked for (type, vCPUs, memory, image, tags) with `state: "pending"`. While a tag edit is queued, `tags` are those it sets. `refresh=true` lists the VM’s region first (bounded by `refresh_wait_ms`): a `refresh` job per host, removed as soon as it ends, so it never shortens the history of operations (`retention_max_jobs`) nor stays in `GET /v1/jobs`. The `ETag` changes whenever the VM’s tags, state or spec change, and whenever an operation on it is queued; send it back as `If-Match` with `PUT …/tags` so a write built from this read is refused (412) if the VM changed meanwhile.',
  auth: 'read',
  needsRedis: true,
  request: { params: VmPath, query: VmQuery },
  responses: {
    200: {
      description: 'The VM',
      schema: VmItemSchema,
      headers: { ETag: 'The VM’s version (tags, state, spec and its queued operations), for `If-Match` on `PUT …/tags`' },
    },
  },
  errors: ['NOT_FOUND', 'VALIDATION'],
  handler: async (c, s, { params, query }) => {
    const t = pathTarget(params);
    const region = resolveTarget(s, t, 'path');
    if (query.refresh) await s.refresher.refresh([region], requester(c));
    const { vm, etag } = await readVm(s, t, callerOwner(c));
    c.header('ETag', etag);
    return c.json(vm);
  },
});
