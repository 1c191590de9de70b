/**
 * What a browser asks for before anything else: `GET /` sends a person to the VM page, and `/favicon.ico`
 * is an icon rather than a 401. Runs before authentication; API clients (no `text/html` in Accept) get
 * `GET /` answered as before, by the auth middleware and the router (401 without a token, 404 with one).
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';
import { UI_PATH } from './ui/context.ts';

/**
 * A 32×32 PNG in an ICO container: a server (three white bars) on the page's accent blue. Embedded rather than
 * read from a file so the bundle (scripts/build.mjs) needs no asset of its own for it.
 */
export const FAVICON = Buffer.from(
  'AAABAAEAICAAAAEAIACTAAAAFgAAAIlQTkcNChoKAAAADUlIRFIAAAAgAAAAIAgGAAAAc3p69AAAAFpJREFUeNpjYEAD3OEX/tMSM+ACtLYYr0PobTmGIwbUAQNlOdwRow7AJ0ktQFcHYNM/shxA1SgYzQWj2XA0G45mw1EHjGbD0Ww4mguGfd9g8HTNBrxzOpDdcwB0POFqvrGm0gAAAABJRU5ErkJggg==',
  'base64',
);

/** Whether the Accept header asks for HTML (a browser's navigation), not merely takes anything (`*∕*`, curl). */
export function wantsHtml(accept: string | undefined): boolean {
  return (accept ?? '').split(',').some((part) => {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    if (type?.trim() !== 'text/html') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

export function entryPoints(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return next();
    if (c.req.path === '/') {
      // The same URL answers by Accept: a cache must keep the two apart.
      c.header('Vary', 'Accept');
      if (wantsHtml(c.req.header('accept'))) return c.redirect(UI_PATH, 303);
    }
    if (c.req.path === '/favicon.ico') {
      return c.body(new Uint8Array(FAVICON), 200, { 'Content-Type': 'image/x-icon', 'Cache-Control': 'public, max-age=86400' });
    }
    return next();
  };
}
