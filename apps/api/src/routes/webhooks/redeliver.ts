/**
 * `POST /v1/jobs/{id}/deliveries/{delivery}/redeliver`: sends a delivery again (same webhook-id and body),
 * with `webhooks.redelivery_attempts` tries. Deliveries to registered endpoints (which admins register) are
 * for admins; a job's own `webhook_url` deliveries for whoever sees the job. One redelivery at a time per
 * delivery, and `webhooks.redelivery_limit` per token: each one is a POST to someone's receiver.
 */
import { DeliveryPath, Redelivery } from '@provisioner/contracts/api';
import { RateLimiter } from '@provisioner/store';
import { ApiError, deliveryNotFound } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { DELIVERY_ID_RE, isAdmin, visibleOr404 } from './visible.ts';

export default defineRoute({
  method: 'post',
  path: '/v1/jobs/{id}/deliveries/{delivery}/redeliver',
  tag: 'webhooks',
  summary: 'Send a delivery again (same webhook-id and body)',
  description:
    'Deliveries to registered endpoints need the admin scope. `409` while the delivery or its last redelivery is still queued, being sent or waiting for a retry; `429` past `webhooks.redelivery_limit` redeliveries per token.',
  auth: 'write',
  needsRedis: true,
  request: { params: DeliveryPath },
  responses: {
    202: {
      description: 'Queued',
      schema: Redelivery,
    },
  },
  errors: ['NOT_FOUND', 'CONFLICT'],
  handler: async (c, s, { params: { id, delivery } }) => {
    await visibleOr404(s, c, id);
    const spec = DELIVERY_ID_RE.test(delivery) ? await s.webhooks.delivery(delivery) : null;
    if (!spec || spec.job_id !== id) throw deliveryNotFound(id, delivery);
    if (spec.endpoint_id && !isAdmin(c)) throw new ApiError('FORBIDDEN', 'redelivering to a registered webhook endpoint needs the admin scope');

    const limit = s.config.webhooks.redelivery_limit;
    const { count, resetMs } = await new RateLimiter(s.redis, s.config.queue_prefix).hit(
      `redeliver:${c.get('caller')?.name ?? 'anonymous'}`,
      limit.per_seconds * 1000,
    );
    if (count > limit.requests) {
      throw new ApiError('RATE_LIMITED', `at most ${limit.requests} redeliveries per ${limit.per_seconds} s per token`, {
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(resetMs / 1000))) },
      });
    }

    const r = await s.webhooks.redeliver(id, delivery);
    if (r.outcome === 'not_found') throw deliveryNotFound(id, delivery);
    if (r.outcome === 'endpoint_gone') throw new ApiError('CONFLICT', 'the endpoint of this delivery was deleted or disabled');
    if (r.outcome === 'in_flight') {
      const what =
        r.by === 'delivery' ? 'this delivery is still being sent (its attempts are not over)' : 'a redelivery of this delivery is still queued or being sent';
      throw new ApiError('CONFLICT', `${what}: see GET /v1/jobs/${id}/deliveries`, { headers: { 'Retry-After': '5' } });
    }
    return c.json({ job_id: id, delivery_id: delivery, state: 'queued', links: { deliveries: `/v1/jobs/${id}/deliveries` } }, 202);
  },
});
