/** `POST /v1/jobs/{id}/deliveries/{delivery}/redeliver`: sends a delivery again (same webhook-id and body). */
import { Redelivery } from '@provisioner/contracts/api';
import { z } from 'zod';
import { ApiError, deliveryNotFound } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { JobPath } from '../../schemas.ts';
import { visibleOr404 } from './visible.ts';

export default defineRoute({
  method: 'post',
  path: '/v1/jobs/{id}/deliveries/{delivery}/redeliver',
  tag: 'webhooks',
  summary: 'Send a delivery again (same webhook-id and body)',
  auth: 'write',
  needsRedis: true,
  request: { params: JobPath.extend({ delivery: z.string().meta({ description: 'A delivery id (`msg_…`)' }) }) },
  responses: {
    202: {
      description: 'Queued',
      schema: Redelivery,
    },
  },
  errors: ['NOT_FOUND', 'CONFLICT'],
  handler: async (c, s) => {
    const id = c.req.param('id') ?? '';
    const delivery = c.req.param('delivery') ?? '';
    await visibleOr404(s, c, id);
    const outcome = await s.webhooks.redeliver(id, delivery);
    if (outcome === 'not_found') throw deliveryNotFound(id, delivery);
    if (outcome === 'endpoint_gone') throw new ApiError('CONFLICT', 'the endpoint of this delivery was deleted or disabled');
    return c.json({ job_id: id, delivery_id: delivery, state: 'queued', links: { deliveries: `/v1/jobs/${id}/deliveries` } }, 202);
  },
});
