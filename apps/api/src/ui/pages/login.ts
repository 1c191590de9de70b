/**
 * Signing in to the VM page: a form that takes a token (POSTed, never in a URL), counted by the
 * failed-authentication throttle like the API's; any token with the read scope is admitted, owner-bound
 * ones too (they see their VMs only). The session cookie is the page's own: Path=/ui, HttpOnly,
 * SameSite=Strict; over https `__Host-provisioner_ui` (Secure, Path=/). Signing in ends the session the browser
 * presented. Signing out is a POST with the session's CSRF token; "everywhere" ends every session of the token.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../../context.ts';
import { hasScope, identify } from '../../middleware.ts';
import { defineUiRoute, field, UI_PATH } from '../context.ts';
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
    if (await ui.sessions.get(ui.sessions.idOf(c))) return c.redirect(`${UI_PATH}/vms`, 303);
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
    // The session this browser presented ends here: signing in never leaves an older one valid.
    await ui.sessions.signIn(c, found.digest);
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
    ui.sessions.clearCookie(c);
    return c.redirect(`${UI_PATH}/login`, 303);
  },
});

/** Ends every session of the signed-in token, on every browser, the dashboard's too (a lost laptop, a shared screen). */
export const logoutEverywhere = defineUiRoute({
  method: 'post',
  path: `${UI_PATH}/logout/all`,
  auth: 'read',
  handler: async (c, ui) => {
    const ended = await ui.sessions.destroyAll(c.get('session').tokenDigest);
    c.get('logger').info({ request_id: c.get('requestId'), token: c.get('session').caller.name, sessions: ended }, 'ui: signed out everywhere');
    ui.sessions.clearCookie(c);
    return c.redirect(`${UI_PATH}/login`, 303);
  },
});
