/**
 * `GET /metrics`: the Prometheus exposition of this API process (src/metrics.ts, docs/metrics.md).
 * It takes a token with the `read` scope like every GET (Prometheus sends it with `authorization`
 * in its scrape config); owner-bound tokens are refused, because the numbers cover every owner.
 */
import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { ApiError } from '../errors.ts';
import type { ApiMetrics } from '../metrics.ts';

export function metricsRoutes(metrics: ApiMetrics): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get('/metrics', async (c) => {
    const caller = c.get('caller');
    if (caller?.owner) throw new ApiError('FORBIDDEN', `token '${caller.name}' is bound to an owner; metrics cover every owner`);
    const { body, contentType } = await metrics.scrape();
    return c.body(body, 200, { 'content-type': contentType, 'cache-control': 'no-store' });
  });
  return r;
}
