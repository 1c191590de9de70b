/**
 * Signing in to the VM page: a form that takes a token (POSTed, never in a URL), counted by the
 * failed-authentication throttle like the API's; any token with the read scope is admitted, owner-bound
 * ones too (they see their VMs only). The session cookie is the page's own: Path=/ui, HttpOnly,
 * SameSite=Strict, Secure behind https. Signing out is a POST with the session's CSRF token.
 */
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { SESSION_TTL_SECONDS } from '../../admin/session.ts';
import type { AppEnv } from '../../context.ts';
import { hasScope, identify } from '../../middleware.ts';
import { defineUiRoute, field, UI_COOKIE, UI_PATH } from '../context.ts';
import { html } from '../html.ts';
import { errorBox, page } from '../layout.ts';

function loginPage(message: string | null) {
  return page(
    'Sign in',
    null,
    html`<section class="login">
<form method="post" action="${UI_PATH}/login" autocomplete="off">
<h1>Sign in</h1>
${errorBox(message)}
<label for="token">API token</label>
<input id="token" name="token" type="password" required autofocus>
<p><button type="submit">Sign in</button></p>
<p class="muted">Read-only tokens see VMs and jobs; tokens with the write scope may create and operate them. A token bound to an owner sees that owner’s VMs only.</p>
</form>
</section>`,
  ).value;
}

export const loginForm = defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/login`,
  auth: 'open',
  handler: async (c, ui) => {
    if (await ui.sessions.get(getCookie(c, UI_COOKIE))) return c.redirect(`${UI_PATH}/vms`, 303);
    return c.html(loginPage(null));
  },
});

export const loginPost = defineUiRoute({
  method: 'post',
  path: `${UI_PATH}/login`,
  auth: 'open',
  handler: async (c, ui) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token = field(form, 'token').trim();
    const found = token ? identify(ui.s.config, token) : null;
    const wait = token ? await ui.s.throttle.attempt(c as unknown as Context<AppEnv>, found?.digest ?? null) : null;
    if (wait !== null) {
      c.header('Retry-After', String(wait));
      return c.html(loginPage(`Too many failed sign-ins from this address; try again in ${wait} s.`), 429);
    }
    if (!found || !hasScope(found.caller, 'read')) {
      c.get('logger').warn({ request_id: c.get('requestId'), token: found?.caller.name ?? null }, 'ui sign-in refused');
      return c.html(loginPage(found ? 'This token may not read.' : 'Invalid token.'), found ? 403 : 401);
    }
    const id = await ui.sessions.create(found.digest);
    setCookie(c, UI_COOKIE, id, {
      path: UI_PATH,
      httpOnly: true,
      sameSite: 'Strict',
      // Over https, or behind a TLS proxy that says so (a client forging the header only loses its own cookie).
      secure: new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https',
      maxAge: SESSION_TTL_SECONDS,
    });
    c.set('caller', found.caller);
    c.get('logger').info({ request_id: c.get('requestId'), token: found.caller.name }, 'ui sign-in');
    return c.redirect(`${UI_PATH}/vms`, 303);
  },
});

export const logout = defineUiRoute({
  method: 'post',
  path: `${UI_PATH}/logout`,
  auth: 'read',
  handler: async (c, ui) => {
    await ui.sessions.destroy(c.get('session').id);
    deleteCookie(c, UI_COOKIE, { path: UI_PATH });
    return c.redirect(`${UI_PATH}/login`, 303);
  },
});
