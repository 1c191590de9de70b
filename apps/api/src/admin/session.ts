/**
 * Browser sessions of the queue dashboard. The cookie holds an opaque random id; Redis holds, under
 * the id's SHA-256 (so reading Redis does not give a usable cookie), the SHA-256 of the token that
 * signed in, with a TTL. The token itself is never stored, nor ever put in a URL.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '@provisioner/contracts';
import type { Redis } from 'ioredis';
import type { Caller } from '../context.ts';
import { callerByDigest } from '../middleware.ts';

/** How long a sign-in lasts; signing in again starts a new one. */
export const SESSION_TTL_SECONDS = 8 * 3600;
export const SESSION_COOKIE = 'provisioner_session';

const ID_RE = /^[A-Za-z0-9_-]{43}$/;

function key(config: Config, id: string): string {
  return `${config.queue_prefix}:admin:session:${createHash('sha256').update(id).digest('hex')}`;
}

export class Sessions {
  constructor(
    private readonly redis: Redis,
    private readonly config: Config,
  ) {}

  /** Stores a new session for the token whose SHA-256 (hex) is `tokenDigest`; returns the id to put in the cookie. */
  async create(tokenDigest: string): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    await this.redis.set(key(this.config, id), JSON.stringify({ token_sha256: tokenDigest }), 'EX', SESSION_TTL_SECONDS);
    return id;
  }

  /**
   * The caller a cookie stands for, or null. The token is found again by its digest, never by its
   * name, with the scopes it has in the running configuration: a token removed or rotated there (and
   * the service restarted) ends its sessions, and no other token can inherit them.
   */
  async get(id: string | undefined): Promise<Caller | null> {
    if (!id || !ID_RE.test(id)) return null;
    const raw = await this.redis.get(key(this.config, id));
    if (!raw) return null;
    let stored: { token_sha256?: unknown };
    try {
      stored = JSON.parse(raw) as typeof stored;
    } catch {
      return null;
    }
    return typeof stored.token_sha256 === 'string' ? callerByDigest(this.config, stored.token_sha256) : null;
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id && ID_RE.test(id)) await this.redis.del(key(this.config, id));
  }
}
