/** AuthFailureCounter and its script (authAttempt) against the machine's Redis. */
import { type Command, Redis } from 'ioredis';
import type { WriteableStream } from 'ioredis/built/types.js';
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
    const ok = keys.authOk(env.prefix, '10.0.4.1', GOOD);
    // The counter's own connection, whose commands about the exemption are counted as it sends them (MONITOR
    // on the run's shared Redis made ioredis fail with "Command queue state error" now and then).
    const conn = env.connect();
    const seen: string[] = [];
    const send = conn.sendCommand.bind(conn);
    conn.sendCommand = ((command: Command, stream?: WriteableStream) => {
      if (command.args.some((a) => String(a) === ok)) seen.push(command.name.toLowerCase());
      return send(command, stream);
    }) as typeof conn.sendCommand;
    await conn.ping(); // ready: the counter counts nothing on a connection that is not
    const t = new AuthFailureCounter(conn, env.prefix, { windowMs: WINDOW, maxFailures: MAX });
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
