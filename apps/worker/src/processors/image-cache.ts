import { type ImageCacheEntry, type ImageCachePayload, type ImageCacheRecord, redactText } from '@provisioner/contracts';
import type { z } from 'zod';
import { toJobError } from '../errors.ts';
import type { ProcessorContext } from './context.ts';
import { defineProcessor } from './define.ts';

/**
 * Keeps the host's cache of catalog images warm: re-hashes what is cached (a corrupted version is
 * removed), downloads what is missing or whose catalog checksum changed (concurrent creates of the same
 * image wait on the same per-name lock, so each image is downloaded once), prunes old versions no VM disk
 * uses beyond `image_cache.keep_unused_versions`, and publishes the state for GET /v1/images. A run that
 * fails as a whole (the host does not answer) records why beside the last state (shown by GET /v1/images
 * and /ready), since the scheduled job itself is removed as it fails.
 */
export default defineProcessor({
  kind: 'image-cache',
  run: async (ctx, p) => ({ result: await keepWarm(ctx, p) }),
});

async function keepWarm(ctx: ProcessorContext, p: z.infer<typeof ImageCachePayload>) {
  try {
    return await runImageCache(ctx, p);
  } catch (e) {
    // A scheduled run is removed as it fails: its error is shown where the host's cache is (GET /v1/images, /ready).
    if (!ctx.signal.aborted) {
      const error = { message: redactText(toJobError(e).message), at: new Date().toISOString() };
      await ctx.stores.inventory.putImageCacheError(p.region, p.host, error).catch(() => undefined);
    }
    throw e;
  }
}

async function runImageCache(ctx: ProcessorContext, p: z.infer<typeof ImageCachePayload>) {
  const { hv, config, signal } = ctx;
  const cfg = config.image_cache;
  const names = Object.keys(config.images);
  const base = { keep: cfg.keep_unused_versions, graceMinutes: cfg.prune_grace_minutes };
  const checked = await ctx.steps.run('verify', () => hv.imageCache(names, { ...base, verify: cfg.verify, prune: false }, { signal }));
  const verified = new Map(checked.images.map((i) => [i.name, i]));
  const images: Record<string, ImageCacheEntry> = {};
  await ctx.steps.run('fetch', async (report) => {
    for (const [i, name] of names.entries()) {
      const image = config.images[name];
      if (!image) continue;
      const before = verified.get(name);
      try {
        const got = await hv.ensureImage({ name, url: image.url, sha256: image.sha256 }, { signal });
        images[name] = {
          cached: true,
          sha256: got.sha256,
          size_bytes: got.sizeBytes,
          // A download is hashed (now, or by the prune pass below when the catalog has no checksum); otherwise
          // only this run's re-hash counts.
          verified: got.downloaded || (before?.verified === 'ok' && before.sha256 === got.sha256) ? true : null,
          downloaded: got.downloaded,
          error: null,
        };
      } catch (e) {
        if (signal.aborted) throw e;
        // One image's download failing does not stop the others; the state says why.
        const error = redactText((e as Error).message);
        ctx.log.warn({ image: name, err: error }, 'caching an image failed');
        images[name] = { cached: false, sha256: null, size_bytes: null, verified: null, downloaded: false, error };
      }
      report((i + 1) / names.length);
    }
  });
  const pruned = await ctx.steps.run('prune', async () => {
    // Cached under another name before (same content): not hashed yet this run, so hash it now.
    const unchecked = names.filter((n) => cfg.verify && images[n]?.cached && images[n]?.verified === null);
    if (unchecked.length) {
      for (const v of (await hv.imageCache(unchecked, { ...base, verify: true, prune: false }, { signal })).images) {
        const e = images[v.name];
        if (e)
          Object.assign(
            e,
            v.verified === 'ok' ? { verified: true } : { verified: false, error: 'the cached content did not match its checksum and was removed' },
          );
      }
    }
    const r = await hv.imageCache(names, { ...base, verify: false, prune: true }, { signal });
    // A disk whose base cannot be read (nor found in a running domain's XML) stops the pruning: say why.
    if (r.pruneSkipped.length) ctx.log.warn({ host: p.host, reasons: r.pruneSkipped }, 'image cache: nothing pruned');
    return r;
  });
  for (const s of pruned.images) {
    const e = images[s.name];
    if (e && s.sha256 === null) Object.assign(e, { cached: false, sha256: null, size_bytes: null });
    // A download without a catalog checksum is hashed after it (on the host, or by this job's prune pass).
    else if (e && e.sha256 === null) e.sha256 = s.sha256;
  }
  const record: ImageCacheRecord = { checked_at: new Date().toISOString(), images, pruned: pruned.pruned, last_error: null };
  await ctx.stores.inventory.putImageCache(p.region, p.host, record);
  return {
    region: p.region,
    host: p.host,
    images: names.length,
    downloaded: Object.values(images).filter((i) => i.downloaded).length,
    pruned: pruned.pruned.length,
  };
}
