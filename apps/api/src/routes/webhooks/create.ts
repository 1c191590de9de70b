/** `POST /v1/webhooks` (admin): registers an endpoint; its secret is answered here only. */

import { EndpointBody, WebhookEndpoint, WebhookSecret } from '@provisioner/contracts/api';
import { refuseUnreachable } from '../../callbacks.ts';
import { defineRoute } from '../../route.ts';
import { WEBHOOK_NOTE } from '../../schemas.ts';

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
  handler: async (c, s, { body: b }) => {
    refuseUnreachable(s, b.url, 'url');
    const by = c.get('caller')?.name ?? 'anonymous';
    const { endpoint, secret } = await s.webhooks.createEndpoint({ url: b.url, events: b.events, created_by: by });
    c.header('Location', `/v1/webhooks/${endpoint.id}`);
    return c.json({ ...endpoint, secret }, 201);
  },
});
