/**
 * What the VM page's routes share: the signed-in session on the context, the route object (one file per
 * page or action under src/ui/pages, listed in src/ui/routes.ts), and calling the API as the session's
 * caller.
 */
import type { Context } from 'hono';
import type { Sessions } from '../admin/session.ts';
import type { AppEnv, Caller, Services } from '../context.ts';
import { hasScope } from '../middleware.ts';
import type { ApiResult, InnerApi } from './api.ts';

export const UI_PATH = '/ui';
export const UI_COOKIE = 'provisioner_ui';

export interface UiSession {
  id: string;
  caller: Caller;
  /** The session's CSRF token: every form carries it, every POST must. */
  csrf: string;
  /** The SHA-256 of the token that signed in: "sign out everywhere" ends every session of it. */
  tokenDigest: string;
}

export interface UiEnv {
  Variables: AppEnv['Variables'] & { session: UiSession };
}

export interface UiDeps {
  s: Services;
  api: InnerApi;
  sessions: Sessions;
}

export interface UiRoute {
  method: 'get' | 'post';
  /** Hono style (`/ui/vms/:region/:name`). */
  path: string;
  /** `open`: no session needed (the sign-in form); `read`: any signed-in token; `write`: tokens with the write scope. */
  auth: 'open' | 'read' | 'write';
  handler: (c: Context<UiEnv>, ui: UiDeps) => Response | Promise<Response>;
}

export function defineUiRoute(r: UiRoute): UiRoute {
  return r;
}

/** Whether the session's token may change things (action buttons are shown, POSTs accepted). */
export function canWrite(session: UiSession): boolean {
  return hasScope(session.caller, 'write');
}

/**
 * Calls an API route as the session's caller (src/ui/api.ts), a write with its form's Idempotency-Key
 * (and `ifMatch`, the ETag the form was drawn from, for writes built from a read).
 */
export async function callApi<T>(
  c: Context<UiEnv>,
  ui: UiDeps,
  method: string,
  path: string,
  body?: unknown,
  o: { ifMatch?: string } = {},
): Promise<ApiResult<T>> {
  // The form was parsed (and its CSRF token checked) before the handler ran: Hono hands back the same parse.
  const key = c.req.method === 'POST' && method !== 'GET' ? field(await c.req.parseBody().catch(() => ({})), 'idem') : '';
  return ui.api.call<T>(c.get('session').caller, c.get('requestId'), method, path, { body, ...(key ? { idempotencyKey: key } : {}), ...o });
}

/**
 * Headers of every /ui answer, pages, assets, redirects and the event-stream relay alike: never cached,
 * never framed, never sniffed, nothing but this service's own files run.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  // Not no-referrer: browsers would send `Origin: null` on POSTs and the Origin check would refuse them.
  'Referrer-Policy': 'same-origin',
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
};

/** A path segment of an API URL. */
export const seg = encodeURIComponent;

/** A form's text field ('' when absent or a file). */
export function field(form: Record<string, unknown>, name: string): string {
  const v = form[name];
  return typeof v === 'string' ? v : '';
}

/** The path parameters the /ui routes use ('' when the route has none of that name). */
export function params(c: Context<UiEnv>): { region: string; name: string; snapshot: string; op: string; id: string } {
  const p = (k: string) => c.req.param(k) ?? '';
  return { region: p('region'), name: p('name'), snapshot: p('snapshot'), op: p('op'), id: p('id') };
}
