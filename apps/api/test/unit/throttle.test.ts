/**
 * Failed authentication throttled per client address in Redis: bearer tokens, the raw legacy
 * Authorization and dashboard sign-ins; X-Forwarded-For believed only from trusted proxies.
 */
import { createHash } from 'node:crypto';
import { keys } from '@provisioner/store/testing';
import { describe, expect, it } from 'vitest';
import { type Harness, TOKENS, useHarness } from './harness.ts';

const MAX = 3;
const WINDOW = 60;
const throttle = { auth_throttle: { max_failures: MAX, window_seconds: WINDOW } };
const direct = useHarness({ extra: throttle });
const proxied = useHarness({ extra: { ...throttle, trusted_proxies: ['127.0.0.1/32'] } });
// An operator who counts IPv6 clients by the /48 a site is usually given.
const wide = useHarness({ extra: { auth_throttle: { ...throttle.auth_throttle, ipv6_prefix_length: 48 }, trusted_proxies: ['127.0.0.1/32'] } });

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

  it('reads X-Forwarded-For entries with brackets or a port as the address they name', async () => {
    const h = proxied;
    // One client, as different proxies spell it: each failure counts for that one address.
    for (const xff of ['198.51.100.77:5678', '"198.51.100.77:1234", 127.0.0.1:80', '[::ffff:198.51.100.77]:443']) {
      expect((await get(h, WRONG, xff)).status).toBe(401);
    }
    expectThrottled(await get(h, TOKENS.read, '198.51.100.77'));
    expect(await h.redis.get(keys.authFailures(h.prefix, '198.51.100.77'))).toBe(String(MAX));
    // An IPv6 client behind a proxy that writes `[address]:port`, counted by its /64.
    for (let i = 1; i <= MAX; i++) expect((await get(h, WRONG, `[2001:db8:77::${i}]:443`)).status).toBe(401);
    expectThrottled(await get(h, TOKENS.read, '[2001:db8:77::99]'));
    expect(await h.redis.get(keys.authFailures(h.prefix, '2001:db8:77::/64'))).toBe(String(MAX));
    // None of it was taken for the proxy itself.
    expect(await h.redis.exists(keys.authFailures(h.prefix, '127.0.0.1'))).toBe(0);
  });

  it('counts an IPv6 client by its /64: rotating addresses inside it does not escape the count, another /64 is not throttled', async () => {
    const h = proxied;
    // A client that holds a right token and signed in from its /64 before anyone there guessed.
    expect((await get(h, TOKENS.admin, '2001:db8:1:2::a')).status).toBe(200);
    // One guesser, a fresh address of the /64 for every guess (any spelling), as many as the bound allows.
    const guesses = ['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0DB8:0001:0002:1234:5678:9abc:def0'];
    expect(guesses).toHaveLength(MAX);
    for (const a of guesses) expect((await get(h, WRONG, a)).status).toBe(401);
    // Yet another address of the /64 is throttled, a right token too, and through a chain of trusted proxies alike.
    expectThrottled(await get(h, WRONG, '2001:db8:1:2:dead:beef:0:1'));
    expectThrottled(await get(h, TOKENS.read, '2001:db8:1:2::77'));
    expectThrottled(await get(h, TOKENS.read, '2001:db8:1:2::78, 127.0.0.1'));
    expectThrottled(await signIn(h, TOKENS.read, '2001:db8:1:2::79'));
    // The token that authenticated in the /64 before stays exempt there, from any of its addresses.
    expect((await get(h, TOKENS.admin, '2001:db8:1:2::b')).status).toBe(200);
    // The neighbouring /64s are other clients.
    expect((await get(h, TOKENS.read, '2001:db8:1:3::1')).status).toBe(200);
    expect((await get(h, TOKENS.read, '2001:db8:1:1:ffff:ffff:ffff:ffff')).status).toBe(200);
    expect((await get(h, WRONG, '2001:db8:1:3::1')).status).toBe(401);

    expect(await h.redis.get(keys.authFailures(h.prefix, '2001:db8:1:2::/64'))).toBe(String(MAX));
    expect(await h.redis.get(keys.authFailures(h.prefix, '2001:db8:1:3::/64'))).toBe('1');
    const digest = createHash('sha256').update(TOKENS.admin).digest('hex');
    expect(await h.redis.pttl(keys.authOk(h.prefix, '2001:db8:1:2::/64', digest))).toBeGreaterThan(0);
    // Nothing is counted per address.
    expect(await h.prefixKeys('authfail:2001:db8:1:2:*')).toEqual([keys.authFailures(h.prefix, '2001:db8:1:2::/64')]);
    // The log names the address that was refused, and the network it was counted under.
    const line = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.client === '2001:db8:1:2::77');
    expect(line).toMatchObject({ client: '2001:db8:1:2::77', throttle_key: '2001:db8:1:2::/64', msg: expect.stringContaining('throttled') });
  });

  it('counts an IPv4-mapped IPv6 client as the IPv4 address', async () => {
    const h = proxied;
    for (let i = 0; i < MAX; i++) expect((await get(h, WRONG, i % 2 ? '::ffff:198.51.100.40' : '198.51.100.40')).status).toBe(401);
    expectThrottled(await get(h, TOKENS.read, '198.51.100.40'));
    expectThrottled(await get(h, TOKENS.read, '::ffff:c633:6428'));
    expect((await get(h, TOKENS.read, '198.51.100.41')).status).toBe(200);
    expect(await h.redis.get(keys.authFailures(h.prefix, '198.51.100.40'))).toBe(String(MAX));
  });

  it('counts IPv6 clients by the prefix length configured', async () => {
    const h = wide;
    for (let i = 0; i < MAX; i++) expect((await get(h, WRONG, `2001:db8:5:${i}::1`)).status).toBe(401);
    expectThrottled(await get(h, TOKENS.read, '2001:db8:5:ffff::1'));
    expect((await get(h, TOKENS.read, '2001:db8:6::1')).status).toBe(200);
    expect(await h.redis.get(keys.authFailures(h.prefix, '2001:db8:5::/48'))).toBe(String(MAX));
  });
});
