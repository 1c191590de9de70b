/**
 * `GET /v1/images`: the image catalog, names and checksums only (an image URL may carry a signed query
 * or credentials), and each host's cache state as its last image-cache job saw it (`cached: null` until
 * one has run), with why the host's last run failed when it did (`run_error`).
 */

import type { ImageCacheRecord } from '@provisioner/contracts';
import { Images } from '@provisioner/contracts/api';
import { defineRoute } from '../../route.ts';

export default defineRoute({
  method: 'get',
  path: '/v1/images',
  tag: 'catalog',
  summary: 'The image catalog (names and checksums) and each host’s cache of it',
  auth: 'read',
  needsRedis: false,
  responses: { 200: { description: 'Images', schema: Images } },
  handler: async (c, s) => {
    const hosts = s.config.regions.flatMap((rg) => rg.hosts.map((h) => ({ region: rg.region_name, host: h.name })));
    // The catalog stays readable while Redis is down; the cache state is then unknown (null).
    const found = await s.inventoryStore.imageCaches(hosts).catch(() => [] as Array<ImageCacheRecord | null>);
    const records = hosts.map((h, i) => ({ ...h, record: found[i] ?? null }));
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
            run_error: record?.last_error ?? null,
          };
        }),
      })),
    });
  },
});
