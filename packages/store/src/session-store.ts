/**
 * Browser sessions of the queue dashboard (`admin`) and of the VM page (`ui`), each kind under keys of
 * its own (a cookie of one is no session of the other). The cookie holds an opaque random id; Redis
 * holds, under the id's SHA-256 (so reading Redis does not give a usable cookie), the SHA-256 of the
 * token that signed in (and for `ui` sessions a random CSRF token for their forms), with a TTL. The token itself is
 * never stored.
 *
 * @example
 * const id = await sessions.create(sha256(token)); // → the cookie's value
 * const digest = await sessions.tokenDigest(id);   // → sha256(token), or null once expired
 * const { csrf } = (await uiSessions.read(id))!;   // → what a `ui` session's forms carry
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';

/** What create() hands out: 32 random bytes, base64url. Anything else is not looked up. */
const ID_RE = /^[A-Za-z0-9_-]{43}$/;

export type SessionKind = 'admin' | 'ui';

export interface SessionRecord {
  token_sha256: string;
  /** `ui` sessions: 32 random bytes, base64url; the session's forms carry it, every POST must. '' for `admin` ones. */
  csrf: string;
}

export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly kind: SessionKind = 'admin',
  ) {}

  private key(id: string): string {
    const digest = createHash('sha256').update(id).digest('hex');
    return this.kind === 'ui' ? keys.uiSession(this.prefix, digest) : keys.adminSession(this.prefix, digest);
  }

  /** Stores a new session for the token whose SHA-256 (hex) is `tokenDigest`; returns the id to put in the cookie. */
  async create(tokenDigest: string): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    // The dashboard's forms are bull-board's own (guarded by Origin and SameSite): only VM page sessions get a CSRF token.
    const record = this.kind === 'ui' ? { token_sha256: tokenDigest, csrf: randomBytes(32).toString('base64url') } : { token_sha256: tokenDigest };
    await this.redis.set(this.key(id), JSON.stringify(record), 'EX', this.ttlSeconds);
    return id;
  }

  /** The session `id` stands for, or null (no such session, expired, not an id, or unreadable). */
  async read(id: string | undefined): Promise<SessionRecord | null> {
    if (!id || !ID_RE.test(id)) return null;
    const raw = await this.redis.get(this.key(id));
    if (!raw) return null;
    try {
      const stored = JSON.parse(raw) as { token_sha256?: unknown; csrf?: unknown };
      if (typeof stored.token_sha256 !== 'string') return null;
      // Sessions made before CSRF tokens were kept get none: no form of theirs passes the check.
      return { token_sha256: stored.token_sha256, csrf: typeof stored.csrf === 'string' ? stored.csrf : '' };
    } catch {
      return null;
    }
  }

  /** The SHA-256 (hex) of the token that signed in as `id`, or null (no such session, expired, or not an id). */
  async tokenDigest(id: string | undefined): Promise<string | null> {
    return (await this.read(id))?.token_sha256 ?? null;
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id && ID_RE.test(id)) await this.redis.del(this.key(id));
  }
}
