/**
 * `POST /v1/webhooks/{id}/rotate-secret` (admin): a new secret, shown only here. With `overlap_seconds` the old
 * one keeps signing beside it for that long (both signatures in `webhook-signature`), so a receiver can switch
 * without refusing a delivery; without, it stops at once.
 */
import { RotateBody, RotatedSecret, WebhookPath } from '@provisioner/contracts/api';
import { webhookNotFound } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { ENDPOINT_ID_RE } from './visible.ts';

export default defineRoute({
  method: 'post',
  path: '/v1/webhooks/{id}/rotate-secret',
  tag: 'webhooks',
  summary: 'Give a webhook endpoint a new secret (admin)',
  description:
    'The old secret stops signing at once, or with `overlap_seconds` after that long: until then every delivery carries both signatures, space-separated in `webhook-signature` (the new one first).',
  auth: 'admin',
  needsRedis: true,
  request: { params: WebhookPath, body: RotateBody, bodyOptional: true },
  responses: { 200: { description: 'The new secret (shown only here)', schema: RotatedSecret } },
  errors: ['NOT_FOUND'],
  handler: async (c, s, { params: { id }, body: b }) => {
    const rotated = ENDPOINT_ID_RE.test(id) ? await s.webhooks.rotateSecret(id, b.overlap_seconds) : null;
    if (!rotated) throw webhookNotFound(id);
    return c.json({ id, ...rotated });
  },
});
