/** `GET /v1/jobs/{id}/deliveries`: a job's webhook deliveries, with every attempt. */
import { Deliveries } from '@provisioner/contracts/api';
import { jobNotFound } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { JobPath } from '../../schemas.ts';
import { visibleOr404 } from './visible.ts';

export default defineRoute({
  method: 'get',
  path: '/v1/jobs/{id}/deliveries',
  tag: 'webhooks',
  summary: 'A job’s webhook deliveries, with every attempt',
  auth: 'read',
  needsRedis: true,
  request: { params: JobPath },
  responses: { 200: { description: 'Deliveries, oldest first', schema: Deliveries } },
  errors: ['NOT_FOUND'],
  handler: async (c, s) => {
    const id = c.req.param('id') ?? '';
    await visibleOr404(s, c, id);
    const deliveries = await s.webhooks.deliveries(id);
    if (deliveries.length === 0 && !(await s.queues.find(id))) throw jobNotFound(id);
    // Capability URLs (chat webhooks) carry their secret in the path: only admins, who may list the
    // endpoints anyway, see where deliveries go; others get the endpoint id.
    const admin = c.get('caller')?.scopes.includes('admin') ?? false;
    return c.json({ job_id: id, deliveries: admin ? deliveries : deliveries.map((d) => ({ ...d, url: null })) });
  },
});
