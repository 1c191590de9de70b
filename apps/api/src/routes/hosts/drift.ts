/**
 * `GET /v1/regions/{region}/hosts/{host}/drift` (admin): what the workers' last inventory refresh found on
 * the host that nobody accounts for, as stored in Redis (the API never opens SSH).
 */

import { HostDrift, HostPath } from '@provisioner/contracts/api';
import { defineRoute } from '../../route.ts';
import { findHost, HOST_ADMIN } from './cordon.ts';

export default defineRoute({
  ...HOST_ADMIN,
  method: 'get',
  path: '/v1/regions/{region}/hosts/{host}/drift',
  summary: 'What nobody accounts for on a host (admin)',
  description:
    'From the workers’ last inventory refresh: managed domains whose disk is missing (`domain-without-disk`), disks, seeds and console logs in disks_dir of no domain (`file-without-domain`), names reserved for the host with neither a domain nor a job (`name-without-vm`). Nothing of a VM with a job queued or running, and no file younger than `worker.drift_grace_ms`, is listed. Unmanaged domains are never drift.',
  request: { params: HostPath },
  responses: { 200: { description: 'The host’s drift', schema: HostDrift } },
  handler: async (c, s, { params }) => {
    const { region, host } = findHost(s, params);
    const rec = await s.inventoryStore.drift(region.region_name, host);
    return c.json({ region: region.region_name, host, observed_at: rec?.observed_at ?? null, grace_ms: rec?.grace_ms ?? null, items: rec?.items ?? [] });
  },
});
