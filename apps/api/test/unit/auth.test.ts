import { describe, expect, it } from 'vitest';
import { authenticate } from '../../src/middleware.ts';
import { TOKENS, useHarness } from './harness.ts';

const h = useHarness();

const create = { vm_name: 'auth-vm', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' };

describe('authentication', () => {
  it('accepts the raw token (the replaced service’s form) and the Bearer form', async () => {
    expect((await h.fetch('/v1/regions', { token: null, headers: { authorization: TOKENS.read } })).status).toBe(200);
    expect((await h.fetch('/v1/regions', { token: null, headers: { authorization: `Bearer ${TOKENS.read}` } })).status).toBe(200);
    expect((await h.fetch('/v1/regions', { token: null, headers: { authorization: `bearer   ${TOKENS.admin}` } })).status).toBe(200);
  });

  it.each([
    ['missing', undefined],
    ['wrong', 'not-the-token-not-the-token'],
    ['wrong bearer', 'Bearer not-the-token-not-the-token'],
    ['a prefix of a real token', TOKENS.admin.slice(0, -1)],
    ['a real token with a suffix', `${TOKENS.admin}x`],
    ['Bearer with nothing', 'Bearer '],
  ])('answers a %s token with 401, the envelope and the old `detail`', async (_l, value) => {
    const r = await h.fetch('/v1/list', { token: null, headers: value === undefined ? {} : { authorization: value } });
    expect(r.status).toBe(401);
    const body = (await r.json()) as { detail: string; error: { code: string; request_id: string } };
    expect(body.detail).toBe('Invalid or missing API Token');
    expect(body.error.code).toBe('UNAUTHORIZED');
    expect(body.error.request_id).toBe(r.headers.get('x-request-id'));
  });

  it('refuses a read token on mutations (403) and queues nothing', async () => {
    for (const [method, path, json] of [
      ['POST', '/v1/vms', create],
      ['POST', '/v1/create', create],
      ['POST', '/v1/vms/r1/auth-vm/start', undefined],
      ['DELETE', '/v1/vms/r1/auth-vm', undefined],
      ['PUT', '/v1/vms/r1/auth-vm/tags', { tags: {} }],
      ['DELETE', '/v1/delete', { vm_name: 'auth-vm', region_name: 'r1' }],
    ] as const) {
      const r = await h.fetch(path, { method, token: TOKENS.read, json });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    }
    expect(await h.jobCount()).toBe(0);
    expect(await h.prefixKeys('vmhost:*')).toEqual([]);
  });

  it('lets read tokens read and write tokens write', async () => {
    expect((await h.fetch('/v1/vms', { token: TOKENS.read })).status).toBe(200);
    expect((await h.fetch('/v1/jobs', { token: TOKENS.read })).status).toBe(200);
    const r = await h.fetch('/v1/vms', { method: 'POST', token: TOKENS.write, json: { ...create, vm_name: 'writer-vm' } });
    expect(r.status).toBe(202);
  });

  it('leaves /health, /ready and /v1/get-images open, and nothing else', async () => {
    expect((await h.fetch('/health', { token: null })).status).toBe(200);
    expect((await h.fetch('/ready', { token: null })).status).toBe(200);
    expect((await h.fetch('/v1/get-images', { token: null })).status).toBe(200);
    for (const path of ['/v1/images', '/v1/regions', '/v1/vms', '/v1/jobs', '/v1/list', '/no-such-route']) {
      expect((await h.fetch(path, { token: null })).status, path).toBe(401);
    }
  });

  it('compares against every configured token (unit)', () => {
    expect(authenticate(h.config, TOKENS.write)).toEqual({ name: 'writer', scopes: ['read', 'write'], owner: null, rateLimit: null });
    expect(authenticate(h.config, `Bearer ${TOKENS.admin}`)?.name).toBe('admin');
    expect(authenticate(h.config, '')).toBeNull();
    expect(authenticate(h.config, 'Bearer')).toBeNull();
  });
});

describe('request ids and logs', () => {
  it('gives every response an X-Request-Id, keeping a sane incoming one and replacing an insane one', async () => {
    const own = await h.fetch('/health', { headers: { 'x-request-id': 'proxy-1234-abcd' } });
    expect(own.headers.get('x-request-id')).toBe('proxy-1234-abcd');
    const bad = await h.fetch('/health', { headers: { 'x-request-id': 'evil\tid with spaces' } });
    expect(bad.headers.get('x-request-id')).toMatch(/^req_[a-f0-9]{32}$/);
    const err = await h.fetch('/v1/jobs/job_nope');
    expect(err.status).toBe(404);
    expect(err.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('logs one line per request with the token’s name, never the token or bodies', async () => {
    const from = h.logs.length;
    await h.fetch('/v1/vms', { method: 'POST', token: TOKENS.write, json: { ...create, vm_name: 'logged-vm', tags: { secret: 'tag-value-xyz' } } });
    await new Promise((r) => setTimeout(r, 50));
    const lines = h.logs.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = lines.find((l) => l.msg === 'request' && l.path === '/v1/vms');
    expect(line).toMatchObject({ method: 'POST', status: 202, token: 'writer' });
    expect(typeof line?.ms).toBe('number');
    expect(typeof line?.request_id).toBe('string');
    const all = h.logs.join('\n');
    for (const t of Object.values(TOKENS)) expect(all).not.toContain(t);
    expect(all).not.toContain('tag-value-xyz');
  });
});
