/**
 * What can be asked for: regions with their instance types (the replaced service's shape, without
 * hosts or credentials) and the image catalog.
 */
import { Hono } from 'hono';
import type { AppEnv, Services } from '../context.ts';
import { enabledRegions } from '../validation.ts';

export function catalogRoutes(s: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();

  r.get('/v1/regions', (c) =>
    c.json(
      enabledRegions(s.config).map((region) => ({
        region_name: region.region_name,
        enabled: region.enabled,
        available_instance_types: region.available_instance_types.map(({ instance_type, vcpus, memory_mb, storage_mb }) => ({
          instance_type,
          vcpus,
          memory_mb,
          storage_mb,
        })),
      })),
    ),
  );

  // Names and checksums only: an image URL may carry a signed query or credentials.
  r.get('/v1/images', (c) => c.json({ images: Object.entries(s.config.images).map(([name, image]) => ({ name, sha256: image.sha256 ?? null })) }));

  // Legacy and open: the chat bot calls it without a token.
  r.get('/v1/get-images', (c) => c.json({ images: Object.keys(s.config.images) }));

  return r;
}
