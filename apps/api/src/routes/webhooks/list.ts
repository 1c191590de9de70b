/** `GET /v1/webhooks` (admin): the endpoints, without secrets. */
import { WebhookList } from '@provisioner/contracts/api';
import { defineRoute } from '../../route.ts';

export default defineRoute({
  method: 'get',
  path: '/v1/webhooks',
  tag: 'webhooks',
  summary: 'List webhook endpoints (admin; no secrets)',
  auth: 'admin',
  needsRedis: true,
  responses: { 200: { description: 'Endpoints', schema: WebhookList } },
  handler: async (c, s) => c.json({ webhooks: await s.webhooks.listEndpoints() }),
});
