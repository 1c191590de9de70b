/**
 * `GET /v1/regions`: regions with their instance types (the replaced service's shape, without hosts or
 * credentials). `?hosts=true` (admin tokens) adds each host's health and capacity; without it the
 * answer keeps the replaced service's shape, which the chat bot (an admin token) reads.
 */

import type { RegionConfig } from '@provisioner/contracts';
import { Region, RegionsQuery } from '@provisioner/contracts/api';
import { z } from 'zod';
import { hostCapacity } from '../../admission/capacity.ts';
import type { Services } from '../../context.ts';
import { ApiError } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { enabledRegions } from '../../validation.ts';

/** Each host's last listing and capacity as placement counts it; null while Redis cannot be read. */
async function hostsView(s: Services, region: RegionConfig) {
  try {
    const { states } = await s.placer.hostStates(region);
    return states.map((st) => {
      const { host: _name, info_observed_at, ...capacity } = hostCapacity(st, s.config.placement);
      return {
        host: st.host.name,
        observed_at: st.entry?.observed_at ?? null,
        error: st.entry ? st.entry.error : 'not observed yet',
        cpus: st.info?.cpus ?? null,
        memory_mb: st.info?.memory_mb ?? null,
        kvm: st.info?.kvm ?? null,
        info_observed_at,
        cordoned: st.cordon !== null,
        cordon: st.cordon,
        capacity,
      };
    });
  } catch {
    return null;
  }
}

export default defineRoute({
  method: 'get',
  path: '/v1/regions',
  tag: 'catalog',
  summary: 'Regions and their instance types',
  description: 'With `hosts=true` (admin tokens), each host’s health and capacity as placement counts it.',
  auth: 'read',
  needsRedis: false,
  request: { query: RegionsQuery },
  responses: { 200: { description: 'Enabled regions', schema: z.array(Region) } },
  errors: ['FORBIDDEN'],
  handler: async (c, s, { query }) => {
    const admin = c.get('caller')?.scopes.includes('admin') ?? false;
    const withHosts = query.hosts === 'true';
    if (withHosts && !admin) throw new ApiError('FORBIDDEN', 'hosts=true needs an admin token');
    return c.json(
      await Promise.all(
        enabledRegions(s.config).map(async (region) => ({
          region_name: region.region_name,
          enabled: region.enabled,
          available_instance_types: region.available_instance_types.map(({ instance_type, vcpus, memory_mb, storage_mb }) => ({
            instance_type,
            vcpus,
            memory_mb,
            storage_mb,
          })),
          // Admins also see each host's health and capacity (never its address or credentials).
          ...(withHosts ? { hosts: await hostsView(s, region) } : {}),
        })),
      ),
    );
  },
});
