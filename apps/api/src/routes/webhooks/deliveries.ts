/** `GET /v1/jobs/{id}/deliveries`: a job's webhook deliveries, with every attempt. */
import { z } from 'zod';
import { ApiError } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { JobPath } from '../../schemas.ts';
import { visibleOr404 } from './visible.ts';

const DeliveryAttempt = z.object({
  attempt: z.number().int(),
  redelivery: z.boolean(),
  at: z.string(),
  status_code: z.number().int().nullable().meta({ description: 'The receiver’s status; null when no answer (timeout, network error, refused)' }),
  duration_ms: z.number().int(),
  error: z.string().nullable().meta({ description: 'Why it failed, e.g. `HTTP 500`, `timeout after 10000 ms`, `refused: 127.0.0.1 is a loopback address`' }),
  outcome: z.enum(['delivered', 'retrying', 'failed', 'refused', 'skipped']),
});
const Deliveries = z.object({
  job_id: z.string(),
  deliveries: z.array(
    z.object({
      id: z.string().meta({ description: 'The `webhook-id` header, the same on every attempt and redelivery' }),
      type: z.string().nullable(),
      endpoint_id: z.string().nullable().meta({ description: 'The registered endpoint; null for the job’s own `webhook_url`' }),
      url: z.string().nullable().meta({
        description:
          'Without its query string; shown to admin tokens only (null for others: a chat webhook’s URL holds its secret), who see the endpoint as `endpoint_id`',
      }),
      state: z.enum(['pending', 'delivered', 'retrying', 'failed', 'refused', 'skipped']),
      attempts: z.array(DeliveryAttempt),
    }),
  ),
});

export default defineRoute({
  method: 'get',
  path: '/v1/jobs/{id}/deliveries',
  tag: 'webhooks',
  summary: 'A job’s webhook deliveries, with every attempt',
  auth: 'read',
  needsRedis: true,
  request: { params: JobPath },
  responses: { 200: { description: 'Deliveries, oldest first', schema: Deliveries } },
  errors: ['NOT_FOUND'],
  handler: async (c, s) => {
    const id = c.req.param('id') ?? '';
    await visibleOr404(s, c, id);
    const deliveries = await s.webhooks.deliveries(id);
    if (deliveries.length === 0 && !(await s.queues.find(id))) throw new ApiError('NOT_FOUND', 'job not found');
    // Capability URLs (chat webhooks) carry their secret in the path: only admins, who may list the
    // endpoints anyway, see where deliveries go; others get the endpoint id.
    const admin = c.get('caller')?.scopes.includes('admin') ?? false;
    return c.json({ job_id: id, deliveries: admin ? deliveries : deliveries.map((d) => ({ ...d, url: null })) });
  },
});
