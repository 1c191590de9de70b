/** `GET /health`: liveness, the replaced service's exact answer. */
import { z } from 'zod';
import { defineRoute } from '../../route.ts';

const Health = z.object({ status: z.literal('healthy') });

export default defineRoute({
  method: 'get',
  path: '/health',
  tag: 'health',
  summary: 'Liveness',
  auth: 'open',
  needsRedis: false,
  responses: { 200: { description: 'Alive', schema: Health } },
  handler: (c) => c.json({ status: 'healthy' }),
});
