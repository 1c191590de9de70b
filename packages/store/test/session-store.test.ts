/** SessionStore against the machine's Redis. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keys } from '../src/keys.ts';
import { SessionStore } from '../src/session-store.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('sess');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('SessionStore', () => {
  it('keeps the token digest under the id digest, with the TTL, and forgets it on destroy', async () => {
    const s = new SessionStore(env.redis, env.prefix, 600);
    const id = await s.create(sha('token'));
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const key = keys.adminSession(env.prefix, sha(id));
    expect(JSON.parse((await env.redis.get(key)) ?? 'null')).toEqual({ token_sha256: sha('token') });
    expect(await s.read(id)).toEqual({ token_sha256: sha('token'), csrf: '' });
    expect(await env.redis.ttl(key)).toBeGreaterThan(590);
    expect(await s.tokenDigest(id)).toBe(sha('token'));
    await s.destroy(id);
    expect(await s.tokenDigest(id)).toBeNull();
    expect(await env.redis.exists(key)).toBe(0);
  });

  it('keeps VM page (ui) sessions apart from dashboard ones, each with its own CSRF token', async () => {
    const admin = new SessionStore(env.redis, env.prefix, 600);
    const ui = new SessionStore(env.redis, env.prefix, 600, 'ui');
    const id = await ui.create(sha('token'));
    const stored = JSON.parse((await env.redis.get(keys.uiSession(env.prefix, sha(id)))) ?? 'null') as { csrf: string };
    expect(stored).toEqual({ token_sha256: sha('token'), csrf: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect(await ui.read(id)).toEqual(stored);
    expect(await env.redis.ttl(keys.uiSession(env.prefix, sha(id)))).toBeGreaterThan(590);
    expect(await env.redis.exists(keys.adminSession(env.prefix, sha(id)))).toBe(0);
    expect(await admin.tokenDigest(id)).toBeNull();
    const other = await ui.create(sha('token'));
    expect((await ui.read(other))?.csrf).not.toBe((await ui.read(id))?.csrf);
  });

  it('answers null for what it did not hand out: malformed ids, unknown ids, unreadable records', async () => {
    const s = new SessionStore(env.redis, env.prefix, 600);
    expect(await s.tokenDigest(undefined)).toBeNull();
    expect(await s.tokenDigest('short')).toBeNull();
    expect(await s.tokenDigest('A'.repeat(43))).toBeNull();
    const id = 'B'.repeat(43);
    await env.redis.set(keys.adminSession(env.prefix, sha(id)), '{broken', 'EX', 60);
    expect(await s.tokenDigest(id)).toBeNull();
    await env.redis.set(keys.adminSession(env.prefix, sha(id)), '{"token_sha256":7}', 'EX', 60);
    expect(await s.tokenDigest(id)).toBeNull();
  });
});
