/**
 * Browser sessions of the queue dashboard. The cookie holds an opaque random id; Redis holds, under the
 * id's SHA-256 (so reading Redis does not give a usable cookie), the SHA-256 of the token that signed
 * in, with a TTL. The token itself is never stored.
 *
 * @example
 * const id = await sessions.create(sha256(token)); // → the cookie's value
 * const digest = await sessions.tokenDigest(id);   // → sha256(token), or null once expired
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';

/** What create() hands out: 32 random bytes, base64url. Anything else is not looked up. */
const ID_RE = /^[A-Za-z0-9_-]{43}$/;

export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  private key(id: string): string {
    return keys.adminSession(this.prefix, createHash('sha256').update(id).digest('hex'));
  }

  /** Stores a new session for the token whose SHA-256 (hex) is `tokenDigest`; returns the id to put in the cookie. */
  async create(tokenDigest: string): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    await this.redis.set(this.key(id), JSON.stringify({ token_sha256: tokenDigest }), 'EX', this.ttlSeconds);
    return id;
  }

  /** The SHA-256 (hex) of the token that signed in as `id`, or null (no such session, expired, or not an id). */
  async tokenDigest(id: string | undefined): Promise<string | null> {
    if (!id || !ID_RE.test(id)) return null;
    const raw = await this.redis.get(this.key(id));
    if (!raw) return null;
    try {
      const stored = JSON.parse(raw) as { token_sha256?: unknown };
      return typeof stored.token_sha256 === 'string' ? stored.token_sha256 : null;
    } catch {
      return null;
    }
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id && ID_RE.test(id)) await this.redis.del(this.key(id));
  }
}
