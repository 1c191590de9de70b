/**
 * Browser sessions of the queue dashboard (and, as kind `ui`, of the VM page): the store's SessionStore keeps, under the cookie's opaque id,
 * the SHA-256 of the token that signed in (the token itself is never stored, nor ever put in a URL);
 * here a session is turned back into the caller of the running configuration, and its cookie is set,
 * read and cleared.
 */
import type { Config } from '@provisioner/contracts';
import { type SessionKind, SessionStore } from '@provisioner/store';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Redis } from 'ioredis';
import type { Caller } from '../context.ts';
import { callerByDigest } from '../middleware.ts';

/** How long a sign-in lasts at most, used or not; signing in again starts a new one. Unused, it ends sooner (`session_idle_seconds`). */
export const SESSION_TTL_SECONDS = 8 * 3600;
export const SESSION_COOKIE = 'provisioner_session';

/** Over https, or behind a TLS proxy that says so (a client forging the header only loses its own cookie). */
export function isSecure(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto') === 'https';
}

/**
 * A session cookie's name and path. Over https it is a `__Host-` cookie: browsers then insist on Secure,
 * Path=/ and no Domain, so no sibling host (`evil.example.com` beside `api.example.com`) and no plain-http
 * page can set or overwrite it. Over plain http (development) it keeps its own path.
 */
export function sessionCookie(base: string, path: string, secure: boolean): { name: string; path: string } {
  return secure ? { name: `__Host-${base}`, path: '/' } : { name: base, path };
}

export class Sessions {
  private readonly store: SessionStore;

  constructor(
    redis: Redis,
    private readonly config: Config,
    kind: SessionKind = 'admin',
    /** The cookie's name over http (`__Host-` + it over https) and its path over http. */
    private readonly cookie: { base: string; path: string } = { base: SESSION_COOKIE, path: '/admin' },
  ) {
    this.store = new SessionStore(redis, config.queue_prefix, { absoluteSeconds: SESSION_TTL_SECONDS, idleSeconds: config.session_idle_seconds }, kind);
  }

  /** Stores a new session for the token whose SHA-256 (hex) is `tokenDigest`; returns the id to put in the cookie. */
  create(tokenDigest: string): Promise<string> {
    return this.store.create(tokenDigest);
  }

  /** The session id the request's cookie holds: under the `__Host-` name over https, the plain one over http. */
  idOf(c: Context): string | undefined {
    return getCookie(c, sessionCookie(this.cookie.base, this.cookie.path, isSecure(c)).name);
  }

  /**
   * Signs the browser in: the session it presented (under either name) ends first, so a sign-in never leaves
   * an older session of this browser valid behind the new one. Returns the new session's id.
   */
  async signIn(c: Context, tokenDigest: string): Promise<string> {
    for (const secure of [true, false]) await this.destroy(getCookie(c, sessionCookie(this.cookie.base, this.cookie.path, secure).name));
    const id = await this.create(tokenDigest);
    const { name, path } = sessionCookie(this.cookie.base, this.cookie.path, isSecure(c));
    setCookie(c, name, id, { path, httpOnly: true, sameSite: 'Strict', secure: isSecure(c), maxAge: SESSION_TTL_SECONDS });
    return id;
  }

  /** Ends the request's session and clears its cookie. */
  async signOut(c: Context): Promise<void> {
    await this.destroy(this.idOf(c));
    this.clearCookie(c);
  }

  clearCookie(c: Context): void {
    const { name, path } = sessionCookie(this.cookie.base, this.cookie.path, isSecure(c));
    deleteCookie(c, name, { path, secure: isSecure(c) });
  }

  /**
   * The caller a cookie stands for, or null. The token is found again by its digest, never by its
   * name, with the scopes it has in the running configuration: a token removed or rotated there (and
   * the service restarted) ends its sessions, and no other token can inherit them.
   */
  async get(id: string | undefined): Promise<Caller | null> {
    return (await this.read(id))?.caller ?? null;
  }

  /** The caller, the session's CSRF token and its token's digest, or null. Reading it counts as using it (idle timeout). */
  async read(id: string | undefined): Promise<{ caller: Caller; csrf: string; tokenDigest: string } | null> {
    const record = await this.store.read(id);
    const caller = record ? callerByDigest(this.config, record.token_sha256) : null;
    return record && caller ? { caller, csrf: record.csrf, tokenDigest: record.token_sha256 } : null;
  }

  destroy(id: string | undefined): Promise<void> {
    return this.store.destroy(id);
  }

  /** Ends every session (dashboard and VM page) of the token whose SHA-256 is `tokenDigest`; returns how many. */
  destroyAll(tokenDigest: string): Promise<number> {
    return this.store.destroyAll(tokenDigest);
  }
}
