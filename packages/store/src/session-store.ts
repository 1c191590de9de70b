/**
 * Browser sessions of the queue dashboard (`admin`) and of the VM page (`ui`), each kind under keys of
 * its own (a cookie of one is no session of the other). The cookie holds an opaque random id; Redis
 * holds, under the id's SHA-256 (so reading Redis does not give a usable cookie), the SHA-256 of the
 * token that signed in (and for `ui` sessions a random CSRF token for their forms). The token itself is
 * never stored.
 *
 * A session ends at the first of: its absolute lifetime (from sign-in), its idle timeout (from its last
 * use: each read moves the key's expiry), being destroyed (sign-out, or a new sign-in from the same
 * browser), or every session of its token being destroyed (`destroyAll`: each token's sessions are indexed).
 *
 * @example
 * const id = await sessions.create(sha256(token)); // → the cookie's value
 * const digest = await sessions.tokenDigest(id);   // → sha256(token), or null once ended
 * const { csrf } = (await uiSessions.read(id))!;   // → what a `ui` session's forms carry
 * await sessions.destroyAll(sha256(token));        // → how many sessions (of both kinds) ended
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';

/** What create() hands out: 32 random bytes, base64url. Anything else is not looked up. */
const ID_RE = /^[A-Za-z0-9_-]{43}$/;

export type SessionKind = 'admin' | 'ui';
const KINDS: readonly SessionKind[] = ['admin', 'ui'];

export interface SessionRecord {
  token_sha256: string;
  /** `ui` sessions: 32 random bytes, base64url; the session's forms carry it, every POST must. '' for `admin` ones. */
  csrf: string;
}

/** How long sessions last. */
export interface SessionLifetime {
  /** From sign-in, whatever the use. */
  absoluteSeconds: number;
  /** From the last use. */
  idleSeconds: number;
}

interface Stored {
  token_sha256?: unknown;
  csrf?: unknown;
  /** Epoch ms when the session ends at the latest (its absolute lifetime). */
  expires_at?: unknown;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export class SessionStore {
  private readonly lifetime: SessionLifetime;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    lifetime: SessionLifetime | number,
    private readonly kind: SessionKind = 'admin',
  ) {
    // A bare number: the same absolute and idle lifetime (no idle timeout shorter than the session).
    this.lifetime = typeof lifetime === 'number' ? { absoluteSeconds: lifetime, idleSeconds: lifetime } : lifetime;
  }

  private keyOf(kind: SessionKind, idDigest: string): string {
    return kind === 'ui' ? keys.uiSession(this.prefix, idDigest) : keys.adminSession(this.prefix, idDigest);
  }

  private key(id: string): string {
    return this.keyOf(this.kind, sha256(id));
  }

  /** Stores a new session for the token whose SHA-256 (hex) is `tokenDigest`; returns the id to put in the cookie. */
  async create(tokenDigest: string): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    const now = Date.now();
    const absoluteMs = this.lifetime.absoluteSeconds * 1000;
    const expiresAt = now + absoluteMs;
    // The dashboard's forms are bull-board's own (guarded by Origin and SameSite): only VM page sessions get a CSRF token.
    const record = { token_sha256: tokenDigest, ...(this.kind === 'ui' ? { csrf: randomBytes(32).toString('base64url') } : {}), expires_at: expiresAt };
    const index = keys.tokenSessions(this.prefix, tokenDigest);
    await this.redis
      .multi()
      .set(this.key(id), JSON.stringify(record), 'PX', Math.min(this.lifetime.idleSeconds * 1000, absoluteMs))
      // The token's index: entries past their absolute end are dropped here, so it never grows beyond the live ones.
      .zremrangebyscore(index, '-inf', now)
      .zadd(index, expiresAt, `${this.kind}:${sha256(id)}`)
      // This session ends last of the token's: the index lives as long.
      .pexpire(index, absoluteMs)
      .exec();
    return id;
  }

  /**
   * The session `id` stands for, or null (no such session, ended, not an id, or unreadable). Reading is
   * using: the idle timeout starts again, up to the absolute end.
   */
  async read(id: string | undefined): Promise<SessionRecord | null> {
    if (!id || !ID_RE.test(id)) return null;
    const key = this.key(id);
    const idleMs = this.lifetime.idleSeconds * 1000;
    // One round trip in the common case: read and move the idle expiry together.
    const raw = await this.redis.getex(key, 'PX', idleMs);
    if (!raw) return null;
    let stored: Stored;
    try {
      stored = JSON.parse(raw) as Stored;
    } catch {
      return null;
    }
    // Records without an absolute end (made before idle timeouts) are in no token's index either: signing out
    // everywhere could not reach them, so they are no longer sessions.
    if (typeof stored.token_sha256 !== 'string' || typeof stored.expires_at !== 'number') return null;
    const left = stored.expires_at - Date.now();
    if (left <= 0) {
      await this.redis.del(key);
      return null;
    }
    // The idle timeout must not carry the session past its absolute end.
    if (left < idleMs) await this.redis.pexpire(key, left);
    // Sessions made before CSRF tokens were kept get none: no form of theirs passes the check.
    return { token_sha256: stored.token_sha256, csrf: typeof stored.csrf === 'string' ? stored.csrf : '' };
  }

  /** The SHA-256 (hex) of the token that signed in as `id`, or null (no such session, ended, or not an id). */
  async tokenDigest(id: string | undefined): Promise<string | null> {
    return (await this.read(id))?.token_sha256 ?? null;
  }

  async destroy(id: string | undefined): Promise<void> {
    if (!id || !ID_RE.test(id)) return;
    const key = this.key(id);
    const raw = await this.redis.get(key);
    await this.redis.del(key);
    let digest: unknown;
    try {
      digest = raw ? (JSON.parse(raw) as Stored).token_sha256 : undefined;
    } catch {
      digest = undefined;
    }
    if (typeof digest === 'string') await this.redis.zrem(keys.tokenSessions(this.prefix, digest), `${this.kind}:${sha256(id)}`);
  }

  /** Ends every session, of both kinds, of the token whose SHA-256 (hex) is `tokenDigest`; returns how many were live. */
  async destroyAll(tokenDigest: string): Promise<number> {
    const index = keys.tokenSessions(this.prefix, tokenDigest);
    const members = await this.redis.zrange(index, 0, -1);
    const sessionKeys = members.flatMap((m) => {
      const [kind, digest] = m.split(':') as [SessionKind, string | undefined];
      return KINDS.includes(kind) && digest ? [this.keyOf(kind, digest)] : [];
    });
    if (members.length === 0) return 0;
    // Only the entries read are removed from the index: a session signed in meanwhile stays findable.
    // Keys of one prefix share its hash tag: one slot, also on a cluster.
    const tx = this.redis.multi();
    if (sessionKeys.length) tx.del(...sessionKeys);
    const done = await tx.zrem(index, ...members).exec();
    return sessionKeys.length ? Number(done?.[0]?.[1] ?? 0) : 0;
  }
}
