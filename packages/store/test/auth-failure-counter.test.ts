/** AuthFailureCounter and its script (authAttempt) against the machine's Redis. */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { AuthFailureCounter, EXEMPTION_RENEW_MS } from '../src/auth-failure-counter.ts';
import { keys } from '../src/keys.ts';
import { REDIS_URL, useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('auth');
const WINDOW = 60_000;
const MAX = 3;
const GOOD = 'a'.repeat(64);
const throttle = () => new AuthFailureCounter(env.redis, env.prefix, { windowMs: WINDOW, maxFailures: MAX });

describe('AuthFailureCounter', () => {
  it('lets MAX wrong tokens through, then throttles the address for the rest of the window, a right token too', async () => {
    const t = throttle();
    for (let i = 0; i < MAX; i++) expect(await t.attempt('10.0.0.1', null)).toBe(0);
    const wait = await t.attempt('10.0.0.1', null);
    expect(wait).toBeGreaterThan(WINDOW - 1000);
    expect(wait).toBeLessThanOrEqual(WINDOW);
    // Refused attempts are not counted on top (the count stays at MAX), and a right token does not get in.
    expect(await env.redis.get(keys.authFailures(env.prefix, '10.0.0.1'))).toBe(String(MAX));
    expect(await t.attempt('10.0.0.1', GOOD)).toBeGreaterThan(0);
    expect(await env.redis.exists(keys.authOk(env.prefix, '10.0.0.1', GOOD))).toBe(0);
    // Another address is not affected.
    expect(await t.attempt('10.0.0.2', null)).toBe(0);
  });

  it('exempts a token that authenticated from the address before it was throttled, and keeps it exempt', async () => {
    const t = throttle();
    expect(await t.attempt('10.0.1.1', GOOD)).toBe(0);
    // A right token is not a failure.
    expect(await env.redis.exists(keys.authFailures(env.prefix, '10.0.1.1'))).toBe(0);
    const ok = keys.authOk(env.prefix, '10.0.1.1', GOOD);
    await env.redis.pexpire(ok, 1000);
    for (let i = 0; i <= MAX; i++) await t.attempt('10.0.1.1', null);
    expect(await t.attempt('10.0.1.1', null)).toBeGreaterThan(0);
    // Another API process (no exemption of its own yet) asks Redis: the exemption holds there.
    expect(await throttle().attempt('10.0.1.1', GOOD)).toBe(0);
    // Each use renews the exemption for a whole window.
    expect(await env.redis.pttl(ok)).toBeGreaterThan(WINDOW - 1000);
    // The exemption is the token's at that address only.
    expect(await t.attempt('10.0.1.1', 'b'.repeat(64))).toBeGreaterThan(0);
  });

  it('lets a token it saw exempt within the last second through without a round trip, and renews it in Redis after that', async () => {
    const t = throttle();
    const ok = keys.authOk(env.prefix, '10.0.4.1', GOOD);
    const monitor = await env.connect().monitor();
    const seen: string[] = [];
    // The client's commands (not those its script runs, which MONITOR shows from source `lua`).
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua' && args.some((a) => a === ok)) seen.push(String(args[0]).toLowerCase());
    });
    expect(await t.attempt('10.0.4.1', GOOD)).toBe(0);
    for (let i = 0; i < 20; i++) expect(await t.attempt('10.0.4.1', GOOD)).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    // One script call for 21 attempts.
    expect(seen).toEqual(['evalsha']);
    await env.redis.pexpire(ok, 5000);
    await new Promise((r) => setTimeout(r, EXEMPTION_RENEW_MS + 100));
    expect(await t.attempt('10.0.4.1', GOOD)).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.filter((c) => c === 'evalsha')).toHaveLength(2);
    expect(await env.redis.pttl(ok)).toBeGreaterThan(WINDOW - 2000);
    monitor.disconnect();
  });

  it('answers a whole window for a failure count that lost its expiry', async () => {
    await env.redis.set(keys.authFailures(env.prefix, '10.0.2.1'), String(MAX));
    expect(await throttle().attempt('10.0.2.1', null)).toBe(WINDOW);
  });

  it('counts nothing while its connection is not ready', async () => {
    const down = new Redis(REDIS_URL, { lazyConnect: true });
    expect(await new AuthFailureCounter(down, env.prefix, { windowMs: WINDOW, maxFailures: 0 }).attempt('10.0.3.1', null)).toBe(0);
    expect(down.status).toBe('wait');
    expect(await env.redis.exists(keys.authFailures(env.prefix, '10.0.3.1'))).toBe(0);
    down.disconnect();
  });
});
