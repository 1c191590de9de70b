/**
 * `GET /metrics`: the Prometheus exposition of this API process (src/metrics.ts, docs/metrics.md).
 * It takes a token with the `read` scope like every GET (Prometheus sends it with `authorization`
 * in its scrape config); owner-bound tokens are refused, because the numbers cover every owner.
 */
import { ApiError } from '../errors.ts';
import { defineRoute } from '../route.ts';

export default defineRoute({
  method: 'get',
  path: '/metrics',
  tag: 'metrics',
  summary: 'Prometheus metrics of this API process',
  description:
    'Prometheus text exposition: requests, latencies, jobs submitted, queue depth and the oldest waiting job per queue (docs/metrics.md). Needs the `read` scope; owner-bound tokens are refused. Served while Redis is down, without the queue series.',
  auth: 'read',
  needsRedis: false,
  responses: { 200: { description: 'The metrics', contentType: 'text/plain; version=0.0.4' } },
  handler: async (c, s) => {
    const caller = c.get('caller');
    if (caller?.owner) throw new ApiError('FORBIDDEN', `token '${caller.name}' is bound to an owner; metrics cover every owner`);
    const { body, contentType } = await s.metrics.scrape();
    return c.body(body, 200, { 'content-type': contentType, 'cache-control': 'no-store' });
  },
});
