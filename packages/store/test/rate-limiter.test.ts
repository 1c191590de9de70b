/** RateLimiter and its script (rateLimitHit) against the machine's Redis. */
import { describe, expect, it } from 'vitest';
import { keys } from '../src/keys.ts';
import { RateLimiter } from '../src/rate-limiter.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('rl');
const WINDOW = 60_000;
/** The start of a window, far from now so no other test's counter is shared. */
const T0 = Math.floor(Date.now() / WINDOW) * WINDOW + 1000 * WINDOW;

describe('RateLimiter', () => {
  it('counts each token on its own within a window', async () => {
    const rl = new RateLimiter(env.redis, env.prefix);
    expect((await rl.hit('a', WINDOW, T0)).count).toBe(1);
    expect((await rl.hit('a', WINDOW, T0 + 10)).count).toBe(2);
    expect((await rl.hit('b', WINDOW, T0 + 20)).count).toBe(1);
    expect((await rl.hit('a', WINDOW, T0 + 30)).count).toBe(3);
  });

  it('starts a fresh count when the window rolls over, at the first millisecond of the next', async () => {
    const rl = new RateLimiter(env.redis, env.prefix);
    for (let i = 0; i < 3; i++) await rl.hit('roll', WINDOW, T0 + WINDOW - 1);
    expect((await rl.hit('roll', WINDOW, T0 + WINDOW - 1)).count).toBe(4);
    expect((await rl.hit('roll', WINDOW, T0 + WINDOW)).count).toBe(1);
    // Both windows' counters exist, each under its own key.
    expect(await env.redis.get(keys.rateLimit(env.prefix, 'roll', T0 / WINDOW))).toBe('4');
    expect(await env.redis.get(keys.rateLimit(env.prefix, 'roll', T0 / WINDOW + 1))).toBe('1');
  });

  it('sets the expiry with the first request only: later ones do not push it back', async () => {
    const rl = new RateLimiter(env.redis, env.prefix);
    const first = await rl.hit('ttl', WINDOW, T0);
    expect(first.resetMs).toBeGreaterThan(WINDOW - 1000);
    expect(first.resetMs).toBeLessThanOrEqual(WINDOW);
    await new Promise((r) => setTimeout(r, 50));
    const later = await rl.hit('ttl', WINDOW, T0);
    expect(later.resetMs).toBeLessThan(first.resetMs);
  });

  it('answers the whole window as the reset of a counter that has no expiry', async () => {
    // Left without one (e.g. a PERSIST by hand): the count goes on, and the reset is still a window away.
    await env.redis.set(keys.rateLimit(env.prefix, 'stuck', T0 / WINDOW), '5');
    expect(await new RateLimiter(env.redis, env.prefix).hit('stuck', WINDOW, T0)).toEqual({ count: 6, resetMs: WINDOW });
  });
});
