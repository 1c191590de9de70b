/** `POST /v1/webhooks` (admin): registers an endpoint; its secret is answered here only. */
import { WEBHOOK_EVENT_TYPES, WebhookUrlSchema } from '@provisioner/contracts';
import { z } from 'zod';
import { defineRoute } from '../../route.ts';
import { WEBHOOK_NOTE, WebhookEndpoint, WebhookSecret } from '../../schemas.ts';

export const EndpointBody = z.object({
  url: WebhookUrlSchema,
  /** Event types the endpoint wants: job.succeeded, job.failed, job.canceled, job.progress, vm.ready, vm.state_changed. */
  events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1).max(WEBHOOK_EVENT_TYPES.length),
});

export default defineRoute({
  method: 'post',
  path: '/v1/webhooks',
  tag: 'webhooks',
  summary: 'Register a webhook endpoint (admin)',
  description: WEBHOOK_NOTE,
  auth: 'admin',
  needsRedis: true,
  request: { body: EndpointBody },
  responses: {
    201: {
      description: 'Registered; the secret is in this answer only',
      schema: WebhookEndpoint.extend({ secret: WebhookSecret }),
      headers: { Location: 'The endpoint' },
    },
  },
  handler: async (c, s, b) => {
    const by = c.get('caller')?.name ?? 'anonymous';
    const { endpoint, secret } = await s.webhooks.createEndpoint({ url: b.url, events: b.events, created_by: by });
    c.header('Location', `/v1/webhooks/${endpoint.id}`);
    return c.json({ ...endpoint, secret }, 201);
  },
});
