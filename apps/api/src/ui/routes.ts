/**
 * The VM page at /ui: server-rendered pages for the users of the service (not the operators' queue
 * dashboard). It signs in with a token like the dashboard, into its own session (cookie scoped to /ui,
 * or `__Host-` over https; HttpOnly, SameSite=Strict) that also admits owner-bound tokens: everything it shows or does goes
 * through the API's own routes as that token (src/ui/api.ts), so an owner-bound token sees its VMs only
 * and a read-only one changes nothing. Every POST must come from a page of this service (Origin) and
 * carry the session's CSRF token; a token without the write scope gets no action buttons and 403 on
 * every action. Strict CSP: scripts and styles only from /ui/assets.
 */
import { timingSafeEqual } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { sameOrigin } from '../admin/routes.ts';
import { Sessions } from '../admin/session.ts';
import type { AppEnv, Services } from '../context.ts';
import { ApiError } from '../errors.ts';
import { hasScope } from '../middleware.ts';
import { rateLimit } from '../rate-limit.ts';
import { InnerApi } from './api.ts';
import { assetRoutes } from './assets.ts';
import { field, PAGE_HEADERS, UI_COOKIE, UI_PATH, type UiDeps, type UiEnv, type UiRoute } from './context.ts';
import { html } from './html.ts';
import { errorBox, page } from './layout.ts';
import consolePage from './pages/console.ts';
import createVm from './pages/create-vm.ts';
import deleteConfirm from './pages/delete-confirm.ts';
import deleteVm from './pages/delete-vm.ts';
import jobPage from './pages/job.ts';
import jobEvents from './pages/job-events.ts';
import { loginForm, loginPost, logout, logoutEverywhere } from './pages/login.ts';
import newVm from './pages/new-vm.ts';
import { createSnapshot, deleteSnapshot, revertSnapshot } from './pages/snapshots.ts';
import editTags from './pages/tags.ts';
import vmPage from './pages/vm.ts';
import vmAction from './pages/vm-action.ts';
import vmState from './pages/vm-state.ts';
import vmList from './pages/vms.ts';

/** Every page and action of /ui, in matching order (fixed paths before parameters). */
export const UI_ROUTES: readonly UiRoute[] = [
  loginForm,
  loginPost,
  logout,
  logoutEverywhere,
  vmList,
  newVm,
  createVm,
  jobPage,
  jobEvents,
  vmPage,
  vmState,
  consolePage,
  deleteConfirm,
  deleteVm,
  editTags,
  createSnapshot,
  revertSnapshot,
  deleteSnapshot,
  vmAction,
];

/**
 * PAGE_HEADERS on every /ui answer. Set before the handler (c.html, c.redirect… take them) and checked
 * after it: a handler that answers with a Response of its own (the event-stream relay) gets the ones it
 * lacks, so none can go out without them. A header the handler set itself (the assets' Cache-Control) stays.
 */
async function pageHeaders(c: Context, next: () => Promise<void>): Promise<void> {
  for (const [k, v] of Object.entries(PAGE_HEADERS)) c.header(k, v);
  await next();
  for (const [k, v] of Object.entries(PAGE_HEADERS)) if (!c.res.headers.has(k)) c.res.headers.set(k, v);
}

/** Constant-time comparison of the form's CSRF token with the session's. */
export function csrfMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return expected.length > 0 && a.length === b.length && timingSafeEqual(a, b);
}

/** A refused request: the page (for a browser) with the reason, or the status alone for JSON/streams. */
function refuse(c: Context<UiEnv>, status: 403, message: string): Response {
  c.get('logger').warn({ request_id: c.get('requestId'), token: c.get('caller')?.name ?? null, path: c.req.path }, `ui: ${message}`);
  return c.html(page('Refused', null, html`<h1>Refused</h1>${errorBox(message)}`).value, status);
}

export function uiRoutes(s: Services): Hono<AppEnv> {
  const r = new Hono<UiEnv>();
  const deps: UiDeps = { s, api: new InnerApi(s), sessions: new Sessions(s.redis, s.config, 'ui', { base: UI_COOKIE, path: UI_PATH }) };
  // The token's own rate limit counts its requests to /ui too (one per page or action; the API routes
  // a page calls in-process are not counted again).
  const limiter = rateLimit(s.redis, s.config.queue_prefix);

  r.use(`${UI_PATH}/*`, pageHeaders);
  r.route('/', assetRoutes());
  r.get(UI_PATH, (c) => c.redirect(`${UI_PATH}/vms`, 303));
  r.get(`${UI_PATH}/`, (c) => c.redirect(`${UI_PATH}/vms`, 303));

  for (const route of UI_ROUTES) {
    r.on(route.method.toUpperCase(), route.path, async (c) => {
      if (c.req.method === 'POST' && !sameOrigin(c as unknown as Context<AppEnv>)) return refuse(c, 403, 'Cross-origin request refused.');
      if (route.auth !== 'open') {
        const id = deps.sessions.idOf(c);
        const found = await deps.sessions.read(id);
        if (!found || !hasScope(found.caller, 'read')) {
          if (c.req.method === 'GET' && !c.req.path.endsWith('/events') && !c.req.path.endsWith('/state')) return c.redirect(`${UI_PATH}/login`, 303);
          throw new ApiError('UNAUTHORIZED', `sign in at ${UI_PATH}/login`);
        }
        c.set('session', { id: id ?? '', ...found });
        c.set('caller', found.caller);
        await limiter(c as unknown as Context<AppEnv>, async () => undefined);
        if (c.req.method === 'POST') {
          const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
          if (!csrfMatches(field(form, 'csrf'), found.csrf))
            return refuse(c, 403, 'The form is stale or was not sent by this page (CSRF token missing or wrong); open the page again.');
        }
        if (route.auth === 'write' && !hasScope(found.caller, 'write'))
          return refuse(c, 403, `Token '${found.caller.name}' may not change anything (read-only).`);
      }
      return route.handler(c, deps);
    });
  }
  return r as unknown as Hono<AppEnv>;
}
