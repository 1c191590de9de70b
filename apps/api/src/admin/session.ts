/**
 * Browser sessions of the queue dashboard (and, as kind `ui`, of the VM page): the store's SessionStore keeps, under the cookie's opaque id,
 * the SHA-256 of the token that signed in (the token itself is never stored, nor ever put in a URL);
 * here a session is turned back into the caller of the running configuration.
 */
import type { Config } from '@provisioner/contracts';
import { type SessionKind, SessionStore } from '@provisioner/store';
import type { Redis } from 'ioredis';
import type { Caller } from '../context.ts';
import { callerByDigest } from '../middleware.ts';

/** How long a sign-in lasts; signing in again starts a new one. */
export const SESSION_TTL_SECONDS = 8 * 3600;
export const SESSION_COOKIE = 'provisioner_session';

export class Sessions {
  private readonly store: SessionStore;

  constructor(
    redis: Redis,
    private readonly config: Config,
    kind: SessionKind = 'admin',
  ) {
    this.store = new SessionStore(redis, config.queue_prefix, SESSION_TTL_SECONDS, kind);
  }

  /** Stores a new session for the token whose SHA-256 (hex) is `tokenDigest`; returns the id to put in the cookie. */
  create(tokenDigest: string): Promise<string> {
    return this.store.create(tokenDigest);
  }

  /**
   * The caller a cookie stands for, or null. The token is found again by its digest, never by its
   * name, with the scopes it has in the running configuration: a token removed or rotated there (and
   * the service restarted) ends its sessions, and no other token can inherit them.
   */
  async get(id: string | undefined): Promise<Caller | null> {
    return (await this.read(id))?.caller ?? null;
  }

  /** The caller and the session's CSRF token, or null. */
  async read(id: string | undefined): Promise<{ caller: Caller; csrf: string } | null> {
    const record = await this.store.read(id);
    const caller = record ? callerByDigest(this.config, record.token_sha256) : null;
    return record && caller ? { caller, csrf: record.csrf } : null;
  }

  destroy(id: string | undefined): Promise<void> {
    return this.store.destroy(id);
  }
}
