/**
 * `POST /v1/webhooks/{id}/rotate-secret` (admin): a new secret, shown only here. With `overlap_seconds` the old
 * one keeps signing beside it for that long (both signatures in `webhook-signature`), so a receiver can switch
 * without refusing a delivery; without, it stops at once.
 */
import { MAX_SECRET_OVERLAP_SECONDS } from '@provisioner/contracts';
import { z } from 'zod';
import { ApiError } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { WebhookPath, WebhookSecret } from '../../schemas.ts';
import { ENDPOINT_ID_RE } from './visible.ts';

export const RotateBody = z.strictObject({
  overlap_seconds: z
    .number()
    .int('a whole number of seconds')
    .min(0, 'at least 0')
    .max(MAX_SECRET_OVERLAP_SECONDS, `at most ${MAX_SECRET_OVERLAP_SECONDS} (7 days)`)
    .default(0)
    .meta({ description: 'How long the old secret keeps signing beside the new one (default 0: it stops at once; at most 7 days)' }),
});

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
  responses: {
    200: {
      description: 'The new secret (shown only here)',
      schema: z.object({
        id: z.string(),
        secret: WebhookSecret,
        overlap_until: z.string().nullable().meta({ description: 'Until when the old secret also signs (null: it stopped)' }),
      }),
    },
  },
  errors: ['NOT_FOUND'],
  handler: async (c, s, b) => {
    const id = c.req.param('id') ?? '';
    const rotated = ENDPOINT_ID_RE.test(id) ? await s.webhooks.rotateSecret(id, b.overlap_seconds) : null;
    if (!rotated) throw new ApiError('NOT_FOUND', 'webhook endpoint not found');
    return c.json({ id, ...rotated });
  },
});
