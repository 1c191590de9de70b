/**
 * The VM page's script and stylesheet, served by the API itself under /ui/assets (no CDN: the strict CSP
 * allows nothing else). Read once, from `./assets/` beside this module (beside main.js in the bundle:
 * scripts/build.mjs copies them), with a strong ETag.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { UI_PATH } from './context.ts';

const TYPES: Record<string, string> = { 'app.css': 'text/css; charset=utf-8', 'app.js': 'text/javascript; charset=utf-8' };

export function assetRoutes(): Hono {
  const r = new Hono();
  const files = new Map(
    Object.entries(TYPES).map(([name, type]) => {
      const body = readFileSync(new URL(`./assets/${name}`, import.meta.url));
      return [name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }] as const;
    }),
  );
  r.get(`${UI_PATH}/assets/:file`, (c) => {
    const f = files.get(c.req.param('file'));
    if (!f) return c.text('not found', 404);
    // Revalidated each time (cheap: 304); the pages' Cache-Control: no-store is for pages, not for these.
    c.header('Cache-Control', 'no-cache');
    c.header('ETag', f.etag);
    if (c.req.header('if-none-match') === f.etag) return c.body(null, 304);
    return c.body(new Uint8Array(f.body), 200, { 'Content-Type': f.type });
  });
  return r;
}
