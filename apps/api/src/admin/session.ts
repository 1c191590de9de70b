/**
 * Browser sessions of the queue dashboard. The cookie holds an opaque random id; Redis holds, under
 * the id's SHA-256 (so reading Redis does not give a usable cookie), the token's name and a
 * fingerprint of its value, with a TTL. The token itself is never stored, nor ever put in a URL.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '@provisioner/contracts';
import type { Redis } from 'ioredis';
import type { Caller } from '../context.ts';
import { authenticate } from '../middleware.ts';

/** How long a sign-in lasts; signing in again starts a new one. */
export const SESSION_TTL_SECONDS = 8 * 3600;
export const SESSION_COOKIE = 'provisioner_session';

const ID_RE = /^[A-Za-z0-9_-]{43}$/;

function key(config: Config, id: string): string {
  return `${config.queue_prefix}:admin:session:${createHash('sha256').update(id).digest('hex')}`;
}

/**
 * Ties a session to the token's current value without storing it: a token rotated in the
 * configuration (same name, new value) ends the sessions opened with the old one.
 */
function fingerprint(token: string): string {
  return createHash('sha256').update(`dashboard-session:${token}`).digest('hex').slice(0, 32);
}

export class Sessions {
  constructor(
    private readonly redis: Redis,
    private readonly config: Config,
  ) {}

  /** Stores a new session for the caller; returns the id to put in the cookie. */
  async create(caller: Caller): Promise<string> {
    const token = this.config.tokens.find((t) => t.name === caller.name);
    if (!token) throw new Error(`no configured token named ${caller.name}`);
    const id = randomBytes(32).toString('base64url');
    await this.redis.set(key(this.config, id), JSON.stringify({ name: token.name, fp: fingerprint(token.token) }), 'EX', SESSION_TTL_SECONDS);
    return id;
  }

  /**
   * The caller a cookie stands for, or null. Scopes are those the token has in the running
   * configuration: a token removed or rotated there (and the service restarted) ends its sessions.
   */
  async get(id: string | undefined): Promise<Caller | null> {
    if (!id || !ID_RE.test(id)) return null;
    const raw = await this.redis.get(key(this.config, id));
    if (!raw) return null;
    let stored: { name?: unknown; fp?: unknown };
    try {
      stored = JSON.parse(raw) as typeof stored;
    } catch {
      return null;
    }
    const token = this.config.tokens.find((t) => t.name === stored.name);
    if (!token || stored.fp !== fingerprint(token.token)) return null;
    return authenticate(this.config, token.token);
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id && ID_RE.test(id)) await this.redis.del(key(this.config, id));
  }
}
