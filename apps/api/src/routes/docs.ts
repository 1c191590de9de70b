/**
 * The API reference: `/openapi.json` (OpenAPI 3.1, from src/openapi.ts) and `/docs`, Swagger UI
 * served from the swagger-ui-dist package by this service itself: nothing is loaded from the
 * internet (operators run this on closed networks). Both are open: they document the routes and
 * hold no configuration or data.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Hono } from 'hono';
import pkg from '../../package.json' with { type: 'json' };
import type { AppEnv } from '../context.ts';
import { openApiDocument } from '../openapi.ts';

const require = createRequire(import.meta.url);
const DIST = dirname(require.resolve('swagger-ui-dist/package.json'));
const VERSION = pkg.version;

/** The files of swagger-ui-dist the page uses, and nothing else of the package. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'index.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Provisioner API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="stylesheet" href="/docs/index.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// validatorUrl null: Swagger UI would otherwise send the document to an online validator.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  // No top bar: it would offer to load any other URL.
  layout: 'BaseLayout',
});
`;

const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/** The reference's own paths: served from the package, without Redis (its assets under `/docs/`). */
export const DOCS_PATHS = ['/openapi.json', '/docs'];

export function docsRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  let doc: string | null = null;
  const cache = new Map<string, Buffer>();

  r.get('/openapi.json', (c) => {
    doc ??= JSON.stringify(openApiDocument(VERSION));
    return c.body(doc, 200, { 'Content-Type': 'application/json; charset=utf-8' });
  });

  r.get('/docs', (c) => c.html(PAGE, 200, { 'Content-Security-Policy': CSP }));

  r.get('/docs/init.js', (c) => c.body(INIT, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }));

  r.get('/docs/:file', async (c, next) => {
    const file = c.req.param('file');
    const type = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
    if (!type) return next();
    let body = cache.get(file);
    if (!body) {
      body = await readFile(join(DIST, file));
      cache.set(file, body);
    }
    return c.body(new Uint8Array(body), 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=3600' });
  });

  return r;
}
