/**
 * Signing in to the queue dashboard from a browser: a form that takes a token (POSTed, never in a
 * URL) and sets an HttpOnly, SameSite=Strict cookie holding an opaque session id (`__Host-` over https;
 * src/admin/session.ts); the session the browser presented ends at sign-in. Admin sessions get
 * the board with actions (retry, clean, promote, pause, resume), `read` sessions the read-only one.
 * Every non-GET request under /admin must come from a page of this service (Origin check), on top of
 * SameSite=Strict.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { html } from 'hono/html';
import type { AppEnv, Caller, Services } from '../context.ts';
import { ApiError } from '../errors.ts';
import { hasScope, identify } from '../middleware.ts';
import { BOARD_PATH, boardQueues, type CordonReader, makeBoard, WEBHOOK_BOARD_NAME } from './board.ts';
import { Sessions } from './session.ts';

const LOGIN_PATH = '/admin/login';
const LOGOUT_PATH = '/admin/logout';

/** Dashboard API calls an admin may make: the operator's actions on jobs and queues. */
const ADMIN_ACTIONS = [
  /^\/api\/queues\/(pause|resume)$/,
  /^\/api\/queues\/[^/]+\/(retry|clean)\/[a-z-]+$/,
  /^\/api\/queues\/[^/]+\/(promote|pause|resume)$/,
  /^\/api\/queues\/[^/]+\/[^/]+\/(retry|clean|promote)$/,
];

/**
 * Whether a mutating dashboard call is allowed for this caller. Adding or editing jobs, emptying or
 * obliterating queues and changing schedulers are left out even for admins: they would bypass the
 * API's validation and the workers' own schedules.
 */
export function allowedAction(caller: Caller, method: string, boardPath: string): boolean {
  if (method === 'GET' || method === 'HEAD') return true;
  return caller.scopes.includes('admin') && ADMIN_ACTIONS.some((re) => re.test(boardPath));
}

/**
 * Why a token may not use the dashboard, or null. Owner-bound tokens see only their owner's VMs and
 * jobs through the API; the board shows every job, so they get none.
 */
export function dashboardRefusal(caller: Caller): string | null {
  if (!hasScope(caller, 'read')) return 'This token may not read.';
  if (caller.owner !== null) return 'This token is bound to an owner: the dashboard shows every job, use the API.';
  return null;
}

/** CSRF: a state-changing request must name this very host as its Origin (browsers always send it on POST/PUT). */
export function sameOrigin(c: Context<AppEnv>): boolean {
  const origin = c.req.header('origin');
  const host = c.req.header('host');
  if (!origin || !host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

function loginPage(message: string | null) {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Sign in · Provisioner</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;display:flex;justify-content:center;align-items:center;min-height:100vh;margin:0}
form{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15);width:22rem}
h1{font-size:1.2rem;margin:0 0 1rem}label{display:block;margin-bottom:.4rem}
input{width:100%;box-sizing:border-box;padding:.5rem;font-family:monospace;margin-bottom:1rem}
button{padding:.5rem 1rem}.error{color:#b00020;margin:0 0 1rem}p.hint{color:#555;font-size:.85rem}
</style>
</head>
<body>
<form method="post" action="${LOGIN_PATH}" autocomplete="off">
<h1>Provisioner queue dashboard</h1>
${message ? html`<p class="error" role="alert">${message}</p>` : ''}
<label for="token">API token (read or admin scope)</label>
<input id="token" name="token" type="password" required autofocus>
<button type="submit">Sign in</button>
<p class="hint">Admin tokens may retry and clean jobs; read tokens see a read-only view.</p>
</form>
</body>
</html>`;
}

/** Headers for the pages of /admin: never cached, never framed, nothing loaded from elsewhere. */
function pageHeaders(c: Context<AppEnv>): void {
  c.header('Cache-Control', 'no-store');
  c.header('X-Frame-Options', 'DENY');
  // Not no-referrer: with it, browsers send `Origin: null` on the sign-in POST and the Origin check refuses it.
  c.header('Referrer-Policy', 'same-origin');
  c.header(
    'Content-Security-Policy',
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
  );
}

/** bull-board's page links a web font from the internet; operators run this on closed networks. */
const EXTERNAL_LINK_RE = /<link[^>]+href="https?:\/\/[^"]*"[^>]*>/g;

export function adminRoutes(s: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const sessions = new Sessions(s.redis, s.config);
  const list = boardQueues(s.config, s.queues);
  const cordons: CordonReader = async (queues) => {
    const hosts = queues.flatMap((q) => (q.host ? [{ name: q.displayName, ...q.host }] : []));
    const found = await s.cordons.many(hosts);
    return new Map(hosts.map((h, i) => [h.name, found[i] ?? null]));
  };
  const deliveries = () => s.webhooks.endpointStats();
  // Deliveries go to endpoints admins register, and their jobs and failures say where: the read-only board of
  // other tokens has no webhook queue (as GET /v1/jobs/{id}/deliveries shows them no endpoint deliveries).
  const readList = list.filter((q) => q.displayName !== WEBHOOK_BOARD_NAME);
  const boards = { admin: makeBoard(list, false, cordons, deliveries), read: makeBoard(readList, true, cordons) };
  const mounted = {
    admin: new Hono().route(BOARD_PATH, boards.admin),
    read: new Hono().route(BOARD_PATH, boards.read),
  };

  r.use('/admin/*', async (c, next) => {
    pageHeaders(c);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && !sameOrigin(c)) throw new ApiError('FORBIDDEN', 'cross-origin request refused');
    return next();
  });

  r.get(LOGIN_PATH, async (c) => {
    if (await sessions.get(sessions.idOf(c))) return c.redirect(`${BOARD_PATH}/`, 303);
    return c.html(loginPage(null));
  });

  r.post(LOGIN_PATH, async (c) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    const found = token ? identify(s.config, token) : null;
    // Sign-ins are counted with API authentications from the same address (src/throttle.ts).
    const wait = token ? await s.throttle.attempt(c, found?.digest ?? null) : null;
    if (wait !== null) {
      c.header('Retry-After', String(wait));
      return c.html(loginPage(`Too many failed sign-ins from this address; try again in ${wait} s.`), 429);
    }
    const refusal = !found ? 'Invalid token.' : dashboardRefusal(found.caller);
    if (!found || refusal) {
      c.get('logger').warn({ request_id: c.get('requestId'), token: found?.caller.name ?? null }, 'dashboard sign-in refused');
      return c.html(loginPage(refusal), found ? 403 : 401);
    }
    const caller = found.caller;
    await sessions.signIn(c, found.digest);
    c.set('caller', caller);
    c.get('logger').info({ request_id: c.get('requestId'), token: caller.name }, 'dashboard sign-in');
    return c.redirect(`${BOARD_PATH}/`, 303);
  });

  // GET too, for the board's menu links: with SameSite=Strict another site cannot sign anyone out.
  // `?all=1` ends every session of the token, the VM page's too (the board's "Sign out everywhere").
  r.on(['GET', 'POST'], LOGOUT_PATH, async (c) => {
    const found = c.req.query('all') === '1' ? await sessions.read(sessions.idOf(c)) : null;
    if (found) {
      const ended = await sessions.destroyAll(found.tokenDigest);
      c.set('caller', found.caller);
      c.get('logger').info({ request_id: c.get('requestId'), token: found.caller.name, sessions: ended }, 'dashboard: signed out everywhere');
    }
    await sessions.signOut(c);
    return c.redirect(LOGIN_PATH, 303);
  });

  r.get('/admin', (c) => c.redirect(`${BOARD_PATH}/`, 303));

  const board = async (c: Context<AppEnv>) => {
    const found = await sessions.get(sessions.idOf(c));
    // A token bound to an owner (or stripped of read) since it signed in loses the board.
    const caller = found && dashboardRefusal(found) === null ? found : null;
    const boardPath = c.req.path.slice(BOARD_PATH.length) || '/';
    const isPage = (c.req.method === 'GET' || c.req.method === 'HEAD') && !/^\/(api|static)\//.test(boardPath);
    if (!caller) {
      if (isPage) return c.redirect(LOGIN_PATH, 303);
      throw new ApiError('UNAUTHORIZED', 'sign in at /admin/login');
    }
    c.set('caller', caller);
    if (!allowedAction(caller, c.req.method, boardPath)) throw new ApiError('FORBIDDEN', `token '${caller.name}' may not do this from the dashboard`);
    // The board's home is `${BOARD_PATH}/` for the browser (its <base href>), `${BOARD_PATH}` for its router.
    const req = boardPath === '/' ? new Request(new URL(BOARD_PATH, c.req.url), c.req.raw) : c.req.raw;
    const res = await (caller.scopes.includes('admin') ? mounted.admin : mounted.read).fetch(req);
    if (!isPage || !res.headers.get('content-type')?.includes('text/html')) return res;
    const page = (await res.text()).replace(EXTERNAL_LINK_RE, '');
    return c.html(page, res.status as 200);
  };
  r.all(BOARD_PATH, board);
  r.all(`${BOARD_PATH}/*`, board);

  return r;
}
