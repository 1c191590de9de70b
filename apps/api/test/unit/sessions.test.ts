/**
 * Browser sessions of the VM page (/ui) and the dashboard (/admin) over real HTTP and Redis: a sign-in ends
 * the session the browser presented, an unused session ends after session_idle_seconds, the cookie is a
 * `__Host-` one over https, and a token's sessions can all be ended (the page's "Sign out everywhere", the
 * board's link, `DELETE /v1/tokens/{name}/sessions`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { keys } from '@provisioner/store/testing';
import { describe, expect, it } from 'vitest';
import { TOKENS, testConfig, useHarness } from './harness.ts';

const OTHER = `oth-${randomBytes(16).toString('hex')}`;
const h = useHarness({ extra: { tokens: [...testConfig('{x}').tokens, { name: 'other-writer', token: OTHER, scopes: ['read', 'write'] }] } });

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
type Kind = 'ui' | 'admin';
const PATHS: Record<Kind, { login: string; home: string; cookie: string }> = {
  ui: { login: '/ui/login', home: '/ui/vms', cookie: 'provisioner_ui' },
  admin: { login: '/admin/login', home: '/admin/queues/', cookie: 'provisioner_session' },
};

/** Signs in as a browser would; `cookie` is what the browser holds already; `https` as behind a TLS proxy. */
async function signIn(kind: Kind, token: string, opts: { cookie?: string; https?: boolean } = {}): Promise<{ cookie: string; set: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', origin: h.url };
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.https) headers['x-forwarded-proto'] = 'https';
  const r = await fetch(`${h.url}${PATHS[kind].login}`, { method: 'POST', headers, body: new URLSearchParams({ token }).toString(), redirect: 'manual' });
  expect(r.status).toBe(303);
  const set = r.headers.get('set-cookie') ?? '';
  const pair = /^([^=;]+=[A-Za-z0-9_-]{43});/.exec(set)?.[1];
  expect(pair, set).toBeTruthy();
  return { cookie: pair as string, set };
}

/** Whether the cookie is a live session: the page answers (200) rather than sending to the sign-in form. */
async function signedIn(kind: Kind, cookie: string, https = false): Promise<boolean> {
  const r = await fetch(`${h.url}${PATHS[kind].home}`, { headers: { cookie, ...(https ? { 'x-forwarded-proto': 'https' } : {}) }, redirect: 'manual' });
  if (r.status === 303) {
    expect(r.headers.get('location')).toBe(PATHS[kind].login);
    return false;
  }
  expect(r.status).toBe(200);
  await r.body?.cancel();
  return true;
}

const sessionKey = (kind: Kind, cookie: string) => {
  const id = cookie.split('=')[1] ?? '';
  return kind === 'ui' ? keys.uiSession(h.prefix, sha(id)) : keys.adminSession(h.prefix, sha(id));
};

/** The CSRF token of a /ui page's forms. */
async function csrfOf(cookie: string): Promise<string> {
  const page = await (await fetch(`${h.url}/ui/vms`, { headers: { cookie } })).text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
  expect(csrf).toBeTruthy();
  return csrf as string;
}

describe.each(['ui', 'admin'] as const)('%s sessions', (kind) => {
  it('a sign-in ends the session the browser presented, also once the new one is signed out', async () => {
    const first = await signIn(kind, TOKENS.read);
    expect(await signedIn(kind, first.cookie)).toBe(true);
    const second = await signIn(kind, TOKENS.read, { cookie: first.cookie });
    expect(second.cookie).not.toBe(first.cookie);
    expect(await h.redis.exists(sessionKey(kind, first.cookie))).toBe(0);
    expect(await signedIn(kind, first.cookie)).toBe(false);
    expect(await signedIn(kind, second.cookie)).toBe(true);
    // Signing out of the new one leaves nothing behind.
    const out =
      kind === 'ui'
        ? await fetch(`${h.url}/ui/logout`, {
            method: 'POST',
            headers: { cookie: second.cookie, origin: h.url, 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ csrf: await csrfOf(second.cookie) }).toString(),
            redirect: 'manual',
          })
        : await fetch(`${h.url}/admin/logout`, { headers: { cookie: second.cookie }, redirect: 'manual' });
    expect(out.status).toBe(303);
    expect(await signedIn(kind, first.cookie)).toBe(false);
    expect(await signedIn(kind, second.cookie)).toBe(false);
  });

  it('ends after session_idle_seconds unused (30 min by default), each use starting it again, within the 8 h', async () => {
    expect(h.config.session_idle_seconds).toBe(1800);
    const { cookie, set } = await signIn(kind, TOKENS.read);
    // The cookie lasts the absolute lifetime; Redis ends the session when it idles.
    expect(set).toMatch(/Max-Age=28800/);
    const key = sessionKey(kind, cookie);
    const ttl = await h.redis.pttl(key);
    expect(ttl).toBeGreaterThan(1_790_000);
    expect(ttl).toBeLessThanOrEqual(1_800_000);
    // As if 29 minutes had gone by unused: a use starts the 30 minutes again.
    await h.redis.pexpire(key, 60_000);
    expect(await signedIn(kind, cookie)).toBe(true);
    expect(await h.redis.pttl(key)).toBeGreaterThan(1_790_000);
    // As if 30 minutes had gone by: the session has ended.
    await h.redis.pexpire(key, 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(await signedIn(kind, cookie)).toBe(false);
  });

  it('over https: a __Host- cookie (Secure, Path=/, no Domain), the only one read there', async () => {
    const { cookie, set } = await signIn(kind, TOKENS.read, { https: true });
    expect(cookie.startsWith(`__Host-${PATHS[kind].cookie}=`)).toBe(true);
    expect(set).toMatch(/; Path=\/(;|$)/);
    expect(set).toMatch(/; Secure/);
    expect(set).toMatch(/; HttpOnly/);
    expect(set).toMatch(/; SameSite=Strict/);
    expect(set).not.toMatch(/Domain=/i);
    expect(await signedIn(kind, cookie, true)).toBe(true);
    // The same session under the plain name (which a sibling host or an http page could have set) is not read over https.
    const plain = cookie.replace('__Host-', '');
    expect(await signedIn(kind, plain, true)).toBe(false);
    // Over plain http the plain name, scoped to its own path, as before.
    const http = await signIn(kind, TOKENS.read);
    expect(http.cookie.startsWith(`${PATHS[kind].cookie}=`)).toBe(true);
    expect(http.set).toMatch(new RegExp(`Path=/${kind}`));
    expect(http.set).not.toMatch(/Secure/);
  });
});

describe('signing a token out everywhere', () => {
  it('the page’s "Sign out everywhere" ends every session of the token, the dashboard’s too, and no other token’s', async () => {
    const a = await signIn('ui', TOKENS.write);
    const b = await signIn('ui', TOKENS.write);
    const board = await signIn('admin', TOKENS.write);
    const other = await signIn('ui', OTHER);
    const page = await (await fetch(`${h.url}/ui/vms`, { headers: { cookie: a.cookie } })).text();
    expect(page).toMatch(/<form method="post" action="\/ui\/logout\/all">/);
    // Without the session's CSRF token it is refused.
    const forged = await fetch(`${h.url}/ui/logout/all`, {
      method: 'POST',
      headers: { cookie: a.cookie, origin: h.url, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=nope',
      redirect: 'manual',
    });
    expect(forged.status).toBe(403);
    expect(await signedIn('ui', b.cookie)).toBe(true);
    const r = await fetch(`${h.url}/ui/logout/all`, {
      method: 'POST',
      headers: { cookie: a.cookie, origin: h.url, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: await csrfOf(a.cookie) }).toString(),
      redirect: 'manual',
    });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/ui/login');
    expect(r.headers.get('set-cookie')).toMatch(/^provisioner_ui=;/);
    expect(await signedIn('ui', a.cookie)).toBe(false);
    expect(await signedIn('ui', b.cookie)).toBe(false);
    expect(await signedIn('admin', board.cookie)).toBe(false);
    expect(await signedIn('ui', other.cookie)).toBe(true);
  });

  it('the board’s "Sign out everywhere" link does the same', async () => {
    const ui = await signIn('ui', TOKENS.read);
    const board = await signIn('admin', TOKENS.read);
    const page = await (await fetch(`${h.url}/admin/queues/`, { headers: { cookie: board.cookie } })).text();
    expect(page).toContain('/admin/logout?all=1');
    const r = await fetch(`${h.url}/admin/logout?all=1`, { headers: { cookie: board.cookie }, redirect: 'manual' });
    expect(r.status).toBe(303);
    expect(await signedIn('admin', board.cookie)).toBe(false);
    expect(await signedIn('ui', ui.cookie)).toBe(false);
  });

  it('DELETE /v1/tokens/{name}/sessions: a token for itself, an admin for any token, nobody for another', async () => {
    const mine = [await signIn('ui', TOKENS.write), await signIn('admin', TOKENS.write)];
    const theirs = await signIn('ui', OTHER);
    // Another token's sessions: refused, whether or not that token exists.
    for (const name of ['other-writer', 'no-such-token']) {
      const refused = await h.fetch(`/v1/tokens/${name}/sessions`, { method: 'DELETE', token: TOKENS.write });
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toBe("token 'writer' may sign out only its own sessions");
    }
    expect(await signedIn('ui', theirs.cookie)).toBe(true);
    // A read-only token may not DELETE (the page's button is its way).
    expect((await h.fetch('/v1/tokens/reader/sessions', { method: 'DELETE', token: TOKENS.read })).status).toBe(403);

    const own = await h.fetch('/v1/tokens/writer/sessions', { method: 'DELETE', token: TOKENS.write });
    expect(own.status).toBe(200);
    expect(await own.json()).toEqual({ token: 'writer', sessions_ended: 2 });
    for (const s of mine) expect(await signedIn(s === mine[0] ? 'ui' : 'admin', s.cookie)).toBe(false);
    expect(await signedIn('ui', theirs.cookie)).toBe(true);

    // Its sessions so far (this one and the earlier test's), every one live.
    const live = await h.redis.zcard(keys.tokenSessions(h.prefix, sha(OTHER)));
    expect(live).toBeGreaterThanOrEqual(1);
    const byAdmin = await h.fetch('/v1/tokens/other-writer/sessions', { method: 'DELETE', token: TOKENS.admin });
    expect(byAdmin.status).toBe(200);
    expect(await byAdmin.json()).toEqual({ token: 'other-writer', sessions_ended: live });
    expect(await signedIn('ui', theirs.cookie)).toBe(false);
    // The tokens themselves stay valid.
    expect((await h.fetch('/v1/vms', { token: OTHER })).status).toBe(200);

    const unknown = await h.fetch('/v1/tokens/no-such-token/sessions', { method: 'DELETE', token: TOKENS.admin });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toBe('token no-such-token not found');
  });
});
