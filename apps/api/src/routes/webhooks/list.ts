/** `GET /v1/webhooks` (admin): the endpoints, without secrets, each with its delivery stats. */
import { WebhookList } from '@provisioner/contracts/api';
import { noEndpointStats } from '@provisioner/store';
import { defineRoute } from '../../route.ts';

export default defineRoute({
  method: 'get',
  path: '/v1/webhooks',
  tag: 'webhooks',
  summary: 'List webhook endpoints (admin; no secrets), with delivery stats',
  auth: 'admin',
  needsRedis: true,
  responses: { 200: { description: 'Endpoints', schema: WebhookList } },
  handler: async (c, s) => {
    const [endpoints, stats] = await Promise.all([s.webhooks.listEndpoints(), s.webhooks.endpointStats()]);
    return c.json({ webhooks: endpoints.map((e) => ({ ...e, stats: stats.get(e.id) ?? noEndpointStats() })) });
  },
});
