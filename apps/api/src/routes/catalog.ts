/**
 * What can be asked for: regions with their instance types (the replaced service's shape, without
 * hosts or credentials) and the image catalog with each host's cache state.
 */
import { type ImageCacheRecord, keys, type RegionConfig } from '@provisioner/contracts';
import { Hono } from 'hono';
import type { AppEnv, Services } from '../context.ts';
import { ApiError } from '../errors.ts';
import { hostCapacity } from '../placement.ts';
import { enabledRegions } from '../validation.ts';

export function catalogRoutes(s: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  // `?hosts=true` (admin tokens) adds each host's health and capacity; without it the answer keeps the
  // replaced service's shape, which the chat bot (an admin token) reads.
  r.get('/v1/regions', async (c) => {
    const admin = c.get('caller')?.scopes.includes('admin') ?? false;
    const withHosts = c.req.query('hosts') === 'true';
    if (withHosts && !admin) throw new ApiError('FORBIDDEN', 'hosts=true needs an admin token');
    return c.json(
      await Promise.all(
        enabledRegions(s.config).map(async (region) => ({
          region_name: region.region_name,
          enabled: region.enabled,
          available_instance_types: region.available_instance_types.map(({ instance_type, vcpus, memory_mb, storage_mb }) => ({
            instance_type,
            vcpus,
            memory_mb,
            storage_mb,
          })),
          // Admins also see each host's health and capacity (never its address or credentials).
          ...(withHosts ? { hosts: await hostsView(s, region) } : {}),
        })),
      ),
    );
  });

  // Names and checksums only: an image URL may carry a signed query or credentials. Each host's cache
  // state is what its last image-cache job saw (`cached: null` until one has run).
  r.get('/v1/images', async (c) => {
    const hosts = s.config.regions.flatMap((rg) => rg.hosts.map((h) => ({ region: rg.region_name, host: h.name })));
    // The catalog stays readable while Redis is down; the cache state is then unknown (null).
    const raw = hosts.length
      ? await s.redis.mget(...hosts.map((h) => keys.imageCache(s.config.queue_prefix, h.region, h.host))).catch(() => [] as Array<string | null>)
      : [];
    const records = hosts.map((h, i) => ({ ...h, record: parseRecord(raw[i] ?? null) }));
    return c.json({
      images: Object.entries(s.config.images).map(([name, image]) => ({
        name,
        sha256: image.sha256 ?? null,
        hosts: records.map(({ region, host, record }) => {
          const e = record?.images[name];
          return {
            region,
            host,
            cached: e ? e.cached : null,
            sha256: e?.sha256 ?? null,
            size_bytes: e?.size_bytes ?? null,
            verified: e?.verified ?? null,
            error: e?.error ?? null,
            checked_at: e ? (record?.checked_at ?? null) : null,
          };
        }),
      })),
    });
  });

  // Legacy and open: the chat bot calls it without a token.
  r.get('/v1/get-images', (c) => c.json({ images: Object.keys(s.config.images) }));

  return r;
}

function parseRecord(raw: string | null): ImageCacheRecord | null {
  if (!raw) return null;
  try {
    const r = JSON.parse(raw) as ImageCacheRecord;
    return typeof r.images === 'object' && r.images !== null ? r : null;
  } catch {
    return null;
  }
}

/** Each host's last listing and capacity as placement counts it; null while Redis cannot be read. */
async function hostsView(s: Services, region: RegionConfig) {
  try {
    const { states } = await s.inventory.hostStates(region);
    return states.map((st) => {
      const { host: _name, info_observed_at, ...capacity } = hostCapacity(st, s.config.placement);
      return {
        host: st.host.name,
        observed_at: st.entry?.observed_at ?? null,
        error: st.entry ? st.entry.error : 'not observed yet',
        cpus: st.info?.cpus ?? null,
        memory_mb: st.info?.memory_mb ?? null,
        kvm: st.info?.kvm ?? null,
        info_observed_at,
        capacity,
      };
    });
  } catch {
    return null;
  }
}
