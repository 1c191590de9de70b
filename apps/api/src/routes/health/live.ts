/** `GET /health`: liveness, the replaced service's exact answer. */
import { Health } from '@provisioner/contracts/api';
import { defineRoute } from '../../route.ts';

export default defineRoute({
  method: 'get',
  path: '/health',
  tag: 'health',
  summary: 'Liveness',
  auth: 'open',
  needsRedis: false,
  ignoresQuery: true,
  responses: { 200: { description: 'Alive', schema: Health } },
  handler: (c) => c.json({ status: 'healthy' }),
});
