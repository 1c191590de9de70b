/** `GET /v1/webhooks` (admin): the endpoints, without secrets, each with its delivery stats. */
import { z } from 'zod';
import { defineRoute } from '../../route.ts';
import { WebhookEndpoint } from '../../schemas.ts';

export const EndpointStats = z
  .object({
    attempts: z.number().int().meta({ description: 'Delivery attempts so far' }),
    delivered: z.number().int().meta({ description: 'Attempts answered 2xx' }),
    success_rate: z.number().nullable().meta({ description: 'delivered / attempts (null before any attempt)' }),
    last_error: z.string().nullable().meta({ description: 'Why the last failed attempt failed' }),
    last_error_at: z.string().nullable(),
    last_delivered_at: z.string().nullable(),
    queued: z.number().int().meta({ description: 'Deliveries in the delivery queue now (waiting, sending, or waiting for a retry)' }),
    retrying: z.number().int().meta({ description: 'Of those, waiting for a retry after a failed attempt' }),
    next_retry_at: z.string().nullable().meta({ description: 'When the next of those retries is due' }),
  })
  .meta({ id: 'WebhookEndpointStats' });

export default defineRoute({
  method: 'get',
  path: '/v1/webhooks',
  tag: 'webhooks',
  summary: 'List webhook endpoints (admin; no secrets), with delivery stats',
  auth: 'admin',
  needsRedis: true,
  responses: { 200: { description: 'Endpoints', schema: z.object({ webhooks: z.array(WebhookEndpoint.extend({ stats: EndpointStats })) }) } },
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
