/** `GET /v1/list` (legacy): every VM after a fresh listing of every host, in the replaced service's shape. */
import { z } from 'zod';
import { callerOwner, requester } from '../../caller.ts';
import { vmItems } from '../../inventory.ts';
import { defineRoute } from '../../route.ts';
import { enabledRegions } from '../../validation.ts';

/** One entry of `GET /v1/list`: `dom_id` a string, `"-"` when the domain is not running. */
const LegacyListItem = z.object({
  dom_id: z.string().meta({ description: 'The libvirt domain id, `-` when not running' }),
  name: z.string(),
  region_name: z.string(),
  state: z.string(),
  tags: z.record(z.string(), z.string()),
});

export default defineRoute({
  method: 'get',
  path: '/v1/list',
  tag: 'legacy',
  summary: 'List VMs after a fresh listing of every host (legacy)',
  description:
    'Lists every host first (bounded by `refresh_wait_ms`): a `refresh` job per host, removed as soon as it ends, so polling this never shortens the history of operations (`retention_max_jobs`) nor stays in `GET /v1/jobs`.',
  auth: 'read',
  needsRedis: true,
  ignoresQuery: true,
  responses: { 200: { description: 'Every VM', schema: z.array(LegacyListItem) } },
  handler: async (c, s) => {
    const regions = enabledRegions(s.config);
    await s.refresher.refresh(regions, requester(c));
    const owner = callerOwner(c);
    const visible = vmItems(await s.inventory.entries(regions)).filter((v) => owner === null || v.tags.owner === owner);
    const list: z.infer<typeof LegacyListItem>[] = visible.map((v) => ({
      dom_id: v.dom_id === null ? '-' : String(v.dom_id),
      name: v.vm_name,
      region_name: v.region_name,
      state: v.state,
      tags: v.tags,
    }));
    return c.json(list);
  },
});
