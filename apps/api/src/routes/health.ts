/**
 * Liveness (`/health`, the replaced service's exact answer) and readiness (`/ready`: Redis answers;
 * each host's last known status is reported, but a host that is down does not make the API unready).
 */
import { Hono } from 'hono';
import type { AppEnv, Services } from '../context.ts';
import { ApiError, errorBody } from '../errors.ts';
import { hostStatus } from '../inventory.ts';

const PING_TIMEOUT_MS = 1000;

async function pingRedis(s: Services): Promise<boolean> {
  if (s.redis.status !== 'ready') return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    const pong = await Promise.race([
      s.redis.ping(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('ping timeout')), PING_TIMEOUT_MS))),
    ]);
    return pong === 'PONG';
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(s: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/health', (c) => c.json({ status: 'healthy' }));

  r.get('/ready', async (c) => {
    if (!(await pingRedis(s))) {
      return c.json({ ...errorBody(c, new ApiError('UNAVAILABLE', 'redis does not answer')), status: 'unready' }, 503);
    }
    const entries = await s.inventory.entries(s.config.regions);
    return c.json({ status: 'ready', redis: 'ok', hosts: entries.map(hostStatus) });
  });

  return r;
}
