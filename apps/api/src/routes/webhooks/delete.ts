/** `DELETE /v1/webhooks/{id}` (admin). */
import { WebhookPath } from '@provisioner/contracts/api';
import { webhookNotFound } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { ENDPOINT_ID_RE } from './visible.ts';

export default defineRoute({
  method: 'delete',
  path: '/v1/webhooks/{id}',
  tag: 'webhooks',
  summary: 'Delete a webhook endpoint (admin)',
  auth: 'admin',
  needsRedis: true,
  request: { params: WebhookPath },
  responses: { 204: { description: 'Deleted' } },
  errors: ['NOT_FOUND'],
  handler: async (c, s, { params: { id } }) => {
    if (!ENDPOINT_ID_RE.test(id) || !(await s.webhooks.deleteEndpoint(id))) throw webhookNotFound(id);
    return c.body(null, 204);
  },
});
