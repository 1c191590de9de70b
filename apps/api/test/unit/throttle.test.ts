/**
 * Failed authentication throttled per client address in Redis: bearer tokens, the raw legacy
 * Authorization and dashboard sign-ins; X-Forwarded-For believed only from trusted proxies.
 */
import { createHash } from 'node:crypto';
import { keys } from '@provisioner/store';
import { describe, expect, it } from 'vitest';
import { type Harness, TOKENS, useHarness } from './harness.ts';

const MAX = 3;
const WINDOW = 60;
const throttle = { auth_throttle: { max_failures: MAX, window_seconds: WINDOW } };
const direct = useHarness({ extra: throttle });
const proxied = useHarness({ extra: { ...throttle, trusted_proxies: ['127.0.0.1/32'] } });

const WRONG = 'wrong-wrong-wrong-wrong-wrong';

const get = (h: Harness, token: string | null, xff?: string, raw = false) =>
  h.fetch('/v1/regions', {
    token: raw ? null : token,
    headers: { ...(xff ? { 'x-forwarded-for': xff } : {}), ...(raw && token ? { authorization: token } : {}) },
  });

const signIn = (h: Harness, token: string, xff?: string) =>
  fetch(`${h.url}/admin/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: h.url, ...(xff ? { 'x-forwarded-for': xff } : {}) },
    body: new URLSearchParams({ token }).toString(),
    redirect: 'manual',
  });

function expectThrottled(r: Response): void {
  expect(r.status).toBe(429);
  const after = Number(r.headers.get('retry-after'));
  expect(after).toBeGreaterThanOrEqual(1);
  expect(after).toBeLessThanOrEqual(WINDOW);
}

describe('failed-authentication throttle', () => {
  it('answers 429 + Retry-After to every attempt from an address past the bound, the right token too, except one that succeeded there recently', async () => {
    const h = direct;
    expect((await get(h, TOKENS.admin)).status).toBe(200);
    // Without trusted proxies X-Forwarded-For is the client's own word: changing it does not escape the count.
    for (let i = 0; i < MAX; i++) expect((await get(h, WRONG, `203.0.113.${i}`)).status).toBe(401);
    expectThrottled(await get(h, WRONG, '203.0.113.99'));
    const body = (await (await get(h, WRONG)).json()) as { error: { code: string } };
    expect(body.error.code).toBe('RATE_LIMITED');
    // A right token that has not authenticated from here lately is refused alike: no 200-vs-429 oracle.
    expectThrottled(await get(h, TOKENS.read));
    expectThrottled(await get(h, TOKENS.write, undefined, true));
    const page = await signIn(h, TOKENS.read);
    expectThrottled(page);
    expect(page.headers.get('set-cookie')).toBeNull();
    // The token that succeeded from this address before keeps working; a request with no token guesses nothing.
    expect((await get(h, TOKENS.admin)).status).toBe(200);
    expect((await get(h, null)).status).toBe(401);

    const failures = keys.authFailures(h.prefix, '127.0.0.1');
    expect(Number(await h.redis.get(failures))).toBe(MAX);
    const ttl = await h.redis.pttl(failures);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(WINDOW * 1000);
    const digest = createHash('sha256').update(TOKENS.admin).digest('hex');
    expect(await h.redis.pttl(keys.authOk(h.prefix, '127.0.0.1', digest))).toBeGreaterThan(0);
    // Nothing in Redis holds a token.
    for (const k of await h.prefixKeys('auth*')) for (const t of Object.values(TOKENS)) expect(k).not.toContain(t);

    // When the window ends, the right tokens work again.
    await h.redis.del(failures);
    expect((await get(h, TOKENS.read)).status).toBe(200);
  });

  it('counts wrong dashboard sign-ins with wrong bearer tokens from the same address', async () => {
    const h = proxied;
    const client = '198.51.100.20';
    expect((await signIn(h, WRONG, client)).status).toBe(401);
    expect((await get(h, WRONG, client)).status).toBe(401);
    expect((await signIn(h, WRONG, client)).status).toBe(401);
    const page = await signIn(h, TOKENS.admin, client);
    expectThrottled(page);
    expect(await page.text()).toContain('Too many failed sign-ins');
    expectThrottled(await get(h, TOKENS.admin, client));
  });

  it('believes X-Forwarded-For only from a trusted proxy, and only its nearest untrusted hop', async () => {
    const h = proxied;
    const attacker = '203.0.113.7';
    for (let i = 0; i < MAX; i++) expect((await get(h, WRONG, attacker)).status).toBe(401);
    expectThrottled(await get(h, TOKENS.read, attacker));
    // Behind a chain of trusted proxies; and with a forged address prepended by the client (the proxy appends the real one).
    expectThrottled(await get(h, TOKENS.read, `${attacker}, 127.0.0.1`));
    expectThrottled(await get(h, TOKENS.read, `192.0.2.1, ${attacker}`));
    // Other clients behind the same proxy, and the proxy itself, are not throttled.
    expect((await get(h, TOKENS.read, '203.0.113.8')).status).toBe(200);
    expect((await get(h, TOKENS.read)).status).toBe(200);
    expect(await h.redis.get(keys.authFailures(h.prefix, attacker))).toBe(String(MAX));
    expect(await h.redis.exists(keys.authFailures(h.prefix, '127.0.0.1'))).toBe(0);
  });
});
