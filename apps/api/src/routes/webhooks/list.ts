/** `GET /v1/webhooks` (admin): the endpoints, without secrets, each with its delivery stats. */
import { WebhookList } from '@provisioner/contracts/api';
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
    const none = {
      attempts: 0,
      delivered: 0,
      success_rate: null,
      last_error: null,
      last_error_at: null,
      last_delivered_at: null,
      queued: 0,
      retrying: 0,
      next_retry_at: null,
    };
    return c.json({ webhooks: endpoints.map((e) => ({ ...e, stats: stats.get(e.id) ?? none })) });
  },
});
