/**
 * The one token check, shared by the API (every route but the open ones) and the worker's `/metrics`.
 * `Authorization: <token>` (the replaced service's form) or `Authorization: Bearer <token>`. Hashing first
 * gives equal-length buffers for timingSafeEqual; every configured token is compared (no early exit), so
 * the time taken does not say which token, or how much of one, matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';
import type { Config, Scope, TokenSchema } from './config/schema.ts';

export type TokenConfig = z.output<typeof TokenSchema>;

/** A configured token that matched, with its SHA-256 (hex): what sessions and the auth throttle keep instead of the token. */
export interface TokenMatch {
  token: TokenConfig;
  digest: string;
}

interface Digest {
  token: TokenConfig;
  digest: Buffer;
  hex: string;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

const cache = new WeakMap<Config, Digest[]>();
function digests(config: Config): Digest[] {
  let d = cache.get(config);
  if (!d) {
    d = config.tokens.map((token) => {
      const digest = sha256(token.token);
      return { token, digest, hex: digest.toString('hex') };
    });
    cache.set(config, d);
  }
  return d;
}

/** The configured token the `Authorization` header carries, or null. */
export function identifyToken(config: Config, header: string | undefined | null): TokenMatch | null {
  if (!header) return null;
  const candidates = [sha256(header)];
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer?.[1]) candidates.push(sha256(bearer[1].trim()));
  let found: Digest | null = null;
  for (const t of digests(config)) {
    for (const cand of candidates) {
      if (timingSafeEqual(cand, t.digest) && !found) found = t;
    }
  }
  return found ? { token: found.token, digest: found.hex } : null;
}

/** The configured token whose SHA-256 (hex) is `digest`, if any (e.g. a dashboard session's token). */
export function tokenByDigest(config: Config, digest: string): TokenConfig | null {
  if (!/^[a-f0-9]{64}$/.test(digest)) return null;
  const want = Buffer.from(digest, 'hex');
  let found: TokenConfig | null = null;
  for (const t of digests(config)) if (timingSafeEqual(want, t.digest) && !found) found = t.token;
  return found;
}

/** The SHA-256 (hex) of the configured token named `name`, or null (names are unique: the loader refuses twins). */
export function tokenDigestByName(config: Config, name: string): string | null {
  return digests(config).find((t) => t.token.name === name)?.hex ?? null;
}

/** `admin` holds every scope. */
export function scopesAllow(scopes: readonly Scope[], needed: Exclude<Scope, 'admin'>): boolean {
  return scopes.includes('admin') || scopes.includes(needed);
}
