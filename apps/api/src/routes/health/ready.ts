/**
 * `GET /ready`: Redis answers; each host's last known status is reported, but a host that is down does
 * not make the API unready. Open, so it says only how each host is, never why: the error text (which
 * may name paths, users or what the host printed) is for token holders (`GET /v1/vms`,
 * `GET /v1/regions?hosts=true`).
 */

import type { Config, HostInfoRecord, ImageCacheRecord } from '@provisioner/contracts';
import { Ready, type ReadyHost } from '@provisioner/contracts/api';
import type { Services } from '../../context.ts';
import { ApiError, errorBody } from '../../errors.ts';
import type { HostEntry } from '../../inventory.ts';
import { defineRoute } from '../../route.ts';

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

export type HostReadiness = ReadyHost['status'];

/** The host's image cache as /ready tells it: how, and when, never why (the error text is GET /v1/images's). */
export function readyImageCache(rec: ImageCacheRecord | null, config: Pick<Config, 'image_cache'>): ReadyHost['image_cache'] {
  const checked = rec?.checked_at ?? null;
  const failed = rec?.last_error?.at ?? null;
  if (failed) return { status: 'failed', checked_at: checked, failed_at: failed };
  if (checked) return { status: 'ok', checked_at: checked, failed_at: null };
  return { status: config.image_cache.interval_ms > 0 ? 'unknown' : 'off', checked_at: null, failed_at: null };
}

export function readyHost(
  h: HostEntry,
  config: Pick<Config, 'worker' | 'image_cache'>,
  now = Date.now(),
  cache: ImageCacheRecord | null = null,
  info: HostInfoRecord | null = null,
): ReadyHost {
  const observed = h.entry?.observed_at ?? null;
  let status: HostReadiness = 'ok';
  if (!h.entry) status = 'unknown';
  else if (h.entry.error !== null) status = 'unreachable';
  else if (observed === null || now - Date.parse(observed) > 3 * config.worker.inventory_refresh_ms) status = 'stale';
  return {
    region: h.region,
    host: h.host,
    status,
    observed_at: observed,
    image_cache: readyImageCache(cache, config),
    disk_free_mb: info ? Math.floor(info.disk_free_bytes / (1024 * 1024)) : null,
  };
}

export default defineRoute({
  method: 'get',
  path: '/ready',
  tag: 'health',
  summary: 'Readiness: Redis answers; each host’s last known status',
  description:
    'A host that is down does not make the API unready. Open, so it gives each host’s status only: why a host fails is in `GET /v1/vms` (read) and `GET /v1/regions?hosts=true` (admin).',
  auth: 'open',
  // It checks Redis itself and answers 503 in the envelope when Redis does not answer.
  needsRedis: false,
  responses: { 200: { description: 'Ready', schema: Ready } },
  errors: ['UNAVAILABLE'],
  handler: async (c, s) => {
    if (!(await pingRedis(s))) {
      return c.json({ ...errorBody(c, new ApiError('UNAVAILABLE', 'redis does not answer')), status: 'unready' }, 503);
    }
    const entries = await s.inventory.entries(s.config.regions);
    const keys = entries.map((e) => ({ region: e.region, host: e.host }));
    // A full host is a host that cannot take VMs: its free space shows here (issue 29).
    const [caches, infos] = await Promise.all([s.inventoryStore.imageCaches(keys), s.inventoryStore.hostInfo(keys)]);
    const now = Date.now();
    return c.json({ status: 'ready', redis: 'ok', hosts: entries.map((e, i) => readyHost(e, s.config, now, caches[i] ?? null, infos[i] ?? null)) });
  },
});
