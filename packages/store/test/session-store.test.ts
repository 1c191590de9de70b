/** SessionStore against the machine's Redis. */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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
    expect(JSON.parse((await env.redis.get(key)) ?? 'null')).toEqual({ token_sha256: sha('token'), expires_at: expect.any(Number) });
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
    expect(stored).toEqual({ token_sha256: sha('token'), csrf: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expires_at: expect.any(Number) });
    expect(await ui.read(id)).toEqual({ token_sha256: sha('token'), csrf: stored.csrf });
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

  it('ends a session left unused for its idle timeout; each use starts the timeout again', async () => {
    const s = new SessionStore(env.redis, env.prefix, { absoluteSeconds: 600, idleSeconds: 1 });
    const id = await s.create(sha('idle'));
    const key = keys.adminSession(env.prefix, sha(id));
    expect(await env.redis.pttl(key)).toBeLessThanOrEqual(1000);
    for (let i = 0; i < 3; i++) {
      await sleep(600);
      // Used within the timeout: still a session, its expiry moved on.
      expect(await s.tokenDigest(id)).toBe(sha('idle'));
      expect(await env.redis.pttl(key)).toBeGreaterThan(900);
    }
    await sleep(1200);
    expect(await s.tokenDigest(id)).toBeNull();
    expect(await env.redis.exists(key)).toBe(0);
  });

  it('ends a session at its absolute lifetime however much it is used', async () => {
    const s = new SessionStore(env.redis, env.prefix, { absoluteSeconds: 2, idleSeconds: 60 });
    const id = await s.create(sha('abs'));
    const key = keys.adminSession(env.prefix, sha(id));
    // The idle timeout never carries it past its end.
    expect(await env.redis.pttl(key)).toBeLessThanOrEqual(2000);
    await sleep(1000);
    expect(await s.tokenDigest(id)).toBe(sha('abs'));
    expect(await env.redis.pttl(key)).toBeLessThanOrEqual(1000);
    // Even were the key to outlive it (a TTL set by hand), the record's own end is checked.
    await env.redis.pexpire(key, 60_000);
    await sleep(1100);
    expect(await s.tokenDigest(id)).toBeNull();
    expect(await env.redis.exists(key)).toBe(0);
  });

  it('signs a token out everywhere: every session of both kinds ends, other tokens’ stay', async () => {
    const admin = new SessionStore(env.redis, env.prefix, 600);
    const ui = new SessionStore(env.redis, env.prefix, 600, 'ui');
    const mine = [await admin.create(sha('mine')), await ui.create(sha('mine')), await ui.create(sha('mine'))];
    const gone = await ui.create(sha('mine'));
    await ui.destroy(gone);
    const theirs = await ui.create(sha('theirs'));
    expect(await env.redis.zcard(keys.tokenSessions(env.prefix, sha('mine')))).toBe(3);
    expect(await ui.destroyAll(sha('mine'))).toBe(3);
    expect(await admin.tokenDigest(mine[0])).toBeNull();
    expect(await ui.tokenDigest(mine[1])).toBeNull();
    expect(await ui.tokenDigest(mine[2])).toBeNull();
    expect(await ui.tokenDigest(theirs)).toBe(sha('theirs'));
    expect(await env.redis.exists(keys.tokenSessions(env.prefix, sha('mine')))).toBe(0);
    expect(await ui.destroyAll(sha('mine'))).toBe(0);
    // A new sign-in afterwards is a session again.
    const again = await admin.create(sha('mine'));
    expect(await admin.tokenDigest(again)).toBe(sha('mine'));
  });

  it('does not take records without an absolute end (made before idle timeouts) as sessions', async () => {
    const s = new SessionStore(env.redis, env.prefix, 600);
    const id = 'C'.repeat(43);
    await env.redis.set(keys.adminSession(env.prefix, sha(id)), JSON.stringify({ token_sha256: sha('old') }), 'EX', 600);
    expect(await s.tokenDigest(id)).toBeNull();
  });
});
