/** `POST /v1/webhooks/{id}/rotate-secret` (admin): a new secret, shown only here; the old one stops signing. */
import { RotatedSecret } from '@provisioner/contracts/api';
import { ApiError } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { WebhookPath } from '../../schemas.ts';
import { ENDPOINT_ID_RE } from './visible.ts';

export default defineRoute({
  method: 'post',
  path: '/v1/webhooks/{id}/rotate-secret',
  tag: 'webhooks',
  summary: 'Give a webhook endpoint a new secret (admin)',
  description: 'The old secret stops signing at once.',
  auth: 'admin',
  needsRedis: true,
  request: { params: WebhookPath },
  responses: { 200: { description: 'The new secret (shown only here)', schema: RotatedSecret } },
  errors: ['NOT_FOUND'],
  handler: async (c, s) => {
    const id = c.req.param('id') ?? '';
    const secret = ENDPOINT_ID_RE.test(id) ? await s.webhooks.rotateSecret(id) : null;
    if (!secret) throw new ApiError('NOT_FOUND', 'webhook endpoint not found');
    return c.json({ id, secret });
  },
});
