/** `GET /v1/webhooks` (admin): the endpoints, without secrets. */
import { z } from 'zod';
import { defineRoute } from '../../route.ts';
import { WebhookEndpoint } from '../../schemas.ts';

export default defineRoute({
  method: 'get',
  path: '/v1/webhooks',
  tag: 'webhooks',
  summary: 'List webhook endpoints (admin; no secrets)',
  auth: 'admin',
  needsRedis: true,
  responses: { 200: { description: 'Endpoints', schema: z.object({ webhooks: z.array(WebhookEndpoint) }) } },
  handler: async (c, s) => c.json({ webhooks: await s.webhooks.listEndpoints() }),
});
