import { describe, expect, it } from 'vitest';
import { TOKENS, testConfig, useHarness } from './harness.ts';

const LIMITED = 'lim-0123456789abcdef0123456789abcdef';
const base = testConfig('{x}');
const h = useHarness({
  extra: {
    tokens: [
      { name: 'admin', token: TOKENS.admin, scopes: ['admin'] },
      { name: 'writer', token: TOKENS.write, scopes: ['read', 'write'] },
      { name: 'limited', token: LIMITED, scopes: ['read', 'write'], rate_limit: { requests: 5, per_seconds: 60 } },
    ],
    regions: [...base.regions.filter((r) => r.region_name !== 'r2'), { ...base.regions.find((r) => r.region_name === 'r2'), max_vms: 3 }],
  },
});

const create = (vm_name: string, region_name = 'r2') => ({ vm_name, region_name, instance_type: 'tiny', image: 'v0.76.0' });

describe('per-token rate limit', () => {
  it('answers 429 with Retry-After once the window is used up, for that token only', async () => {
    const statuses: number[] = [];
    let last = new Response();
    for (let i = 0; i < 7; i++) {
      last = await h.fetch('/v1/jobs', { token: LIMITED });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const retryAfter = Number(last.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(((await last.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    // Other tokens are not limited.
    for (let i = 0; i < 8; i++) expect((await h.fetch('/v1/jobs', { token: TOKENS.write })).status).toBe(200);
  });

  it('counts concurrent requests exactly (atomic in Redis)', async () => {
    await h.redis.del(...(await h.prefixKeys('rl:*')));
    const answers = await Promise.all(Array.from({ length: 20 }, () => h.fetch('/v1/regions', { token: LIMITED })));
    expect(answers.filter((r) => r.status === 200)).toHaveLength(5);
    expect(answers.filter((r) => r.status === 429)).toHaveLength(15);
  });
});

describe('per-region VM quota', () => {
  it('counts the inventory and accepted creates; beyond max_vms a create is 409 with the reason', async () => {
    await h.writeInventory('r2', 'h1', [{ name: 'q-existing', managed: false }]);
    expect((await h.fetch('/v1/vms', { method: 'POST', json: create('q-one') })).status).toBe(202);
    expect((await h.fetch('/v1/vms', { method: 'POST', json: create('q-two') })).status).toBe(202);
    const over = await h.fetch('/v1/vms', { method: 'POST', json: create('q-three') });
    expect(over.status).toBe(409);
    const body = (await over.json()) as { error: { code: string; message: string; details: { reason: string; max_vms: number } } };
    expect(body.error.details).toMatchObject({ reason: 'quota', max_vms: 3 });
    expect(body.error.message).toContain('quota');
    // The refused name was not kept, and the other region has no quota.
    expect(await h.prefixKeys('vmhost:r2/q-three')).toHaveLength(0);
    expect((await h.fetch('/v1/vms', { method: 'POST', json: create('q-three', 'r1') })).status).toBe(202);
    // A VM leaving the inventory frees a place.
    await h.writeInventory('r2', 'h1', []);
    expect((await h.fetch('/v1/vms', { method: 'POST', json: create('q-three') })).status).toBe(202);
  });

  it('concurrent creates fill the quota exactly, never beyond', async () => {
    await h.writeInventory('r2', 'h1', []);
    const names = await h.prefixKeys('vmhost:r2/*');
    if (names.length) await h.redis.del(...names);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => h.fetch('/v1/vms', { method: 'POST', json: create(`q-race-${i}`) })));
    const ok = answers.filter((r) => r.status === 202).length;
    expect(ok).toBe(3);
    expect(answers.every((r) => r.status === 202 || r.status === 409)).toBe(true);
    expect((await h.prefixKeys('vmhost:r2/*')).length).toBe(ok);
  });
});

describe('bounded pages', () => {
  it('refuses page sizes beyond the maximum', async () => {
    expect((await h.fetch('/v1/vms?limit=501')).status).toBe(422);
    expect((await h.fetch('/v1/jobs?limit=501')).status).toBe(422);
    expect((await h.fetch('/v1/jobs?offset=100001')).status).toBe(422);
  });
});
