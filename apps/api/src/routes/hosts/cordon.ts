/**
 * `POST /v1/regions/{region}/hosts/{host}/cordon` (admin): the host gets no new VMs until uncordoned
 * (placement passes it over; a create with no other host is 409 naming the cordon). Operations on its
 * VMs go on. Kept in Redis (CordonStore), with the token name that did it and when.
 */

import type { RegionConfig } from '@provisioner/contracts';
import { CordonBody, HostCordonView, HostPath } from '@provisioner/contracts/api';
import type { HostCordon } from '@provisioner/store';
import type { z } from 'zod';
import type { Services } from '../../context.ts';
import { ApiError } from '../../errors.ts';
import { defineRoute, type Route } from '../../route.ts';
import { findRegion } from '../../validation.ts';

/** The configured host of the path, or 404. */
export function findHost(s: Services, p: HostPath): { region: RegionConfig; host: string } {
  const region = findRegion(s.config, p.region, 'NOT_FOUND');
  const host = p.host;
  if (!region.hosts.some((h) => h.name === host)) throw new ApiError('NOT_FOUND', `region ${region.region_name} has no host ${host}`);
  return { region, host };
}

export function cordonView(region: string, host: string, rec: HostCordon | null): z.infer<typeof HostCordonView> {
  return rec
    ? { region, host, cordoned: true, cordoned_by: rec.cordoned_by, cordoned_at: rec.cordoned_at, reason: rec.reason }
    : { region, host, cordoned: false, cordoned_by: null, cordoned_at: null };
}

/** What every host maintenance route shares. */
export const HOST_ADMIN: Pick<Route, 'tag' | 'auth' | 'needsRedis' | 'errors'> = { tag: 'hosts', auth: 'admin', needsRedis: true, errors: ['NOT_FOUND'] };

export default defineRoute({
  ...HOST_ADMIN,
  method: 'post',
  path: '/v1/regions/{region}/hosts/{host}/cordon',
  summary: 'Cordon a host: it gets no new VMs (admin)',
  description: 'Operations on the host’s existing VMs go on. Cordoning again records the new who, when and reason.',
  request: { params: HostPath, body: CordonBody, bodyOptional: true },
  responses: { 200: { description: 'The host’s state', schema: HostCordonView } },
  handler: async (c, s, { params, body: b }) => {
    const { region, host } = findHost(s, params);
    const by = c.get('caller')?.name ?? 'unknown';
    const rec = await s.cordons.cordon(region.region_name, host, by, b.reason ?? null);
    c.get('logger').info({ region: region.region_name, host, by, reason: rec.reason, request_id: c.get('requestId') }, 'host cordoned');
    return c.json(cordonView(region.region_name, host, rec));
  },
});
