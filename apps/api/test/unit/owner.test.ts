import type { JobView } from '@provisioner/contracts';
import { describe, expect, it } from 'vitest';
import { TOKENS, useHarness } from './harness.ts';

const ALICE = 'alice-0123456789abcdef0123456789ab';
const BOB = 'bob-0123456789abcdef0123456789abcd';
const h = useHarness({
  extra: {
    tokens: [
      { name: 'admin', token: TOKENS.admin, scopes: ['admin'] },
      { name: 'alice', token: ALICE, scopes: ['read', 'write'], owner: 'alice' },
      { name: 'bob', token: BOB, scopes: ['read', 'write'], owner: 'bob' },
    ],
  },
});

const create = (vm_name: string, tags?: Record<string, string>) => ({ vm_name, region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', tags });
type VmList = { vms: Array<{ vm_name: string; tags: Record<string, string> }> };

describe('owner-bound tokens', () => {
  it('see only VMs with their owner tag, in lists and reads; others are 404', async () => {
    await h.writeInventory('r1', 'h1', [
      { name: 'o-alice-1', tags: { owner: 'alice' } },
      { name: 'o-bob-1', tags: { owner: 'bob' } },
      { name: 'o-none', tags: {} },
    ]);
    await h.writeInventory('r1', 'h2', [{ name: 'o-alice-2', tags: { owner: 'alice', env: 'x' } }]);
    const list = (await (await h.fetch('/v1/vms', { token: ALICE })).json()) as VmList;
    expect(list.vms.map((v) => v.vm_name)).toEqual(['o-alice-1', 'o-alice-2']);
    // Asking for another owner does not widen the view.
    expect(((await (await h.fetch('/v1/vms?owner=bob', { token: ALICE })).json()) as VmList).vms).toEqual([]);
    expect(((await (await h.fetch('/v1/vms')).json()) as VmList).vms).toHaveLength(4);

    expect((await h.fetch('/v1/vms/r1/o-alice-1', { token: ALICE })).status).toBe(200);
    expect((await h.fetch('/v1/vms/r1/o-bob-1', { token: ALICE })).status).toBe(404);
    expect((await h.fetch('/v1/vms/r1/o-none', { token: ALICE })).status).toBe(404);

    const legacy = (await (await h.fetch('/v1/list', { token: ALICE })).json()) as Array<{ name: string }>;
    expect(legacy.map((v) => v.name).sort()).toEqual(['o-alice-1', 'o-alice-2']);
  });

  it('act only on their VMs: operations on others are 404 and queue nothing', async () => {
    await h.writeInventory('r1', 'h1', [
      { name: 'o-alice-1', tags: { owner: 'alice' } },
      { name: 'o-bob-1', tags: { owner: 'bob' } },
    ]);
    const before = await h.jobCount();
    for (const [method, path, json] of [
      ['POST', '/v1/vms/r1/o-bob-1/start', undefined],
      ['POST', '/v1/vms/r1/o-bob-1/stop', { force: true }],
      ['PUT', '/v1/vms/r1/o-bob-1/tags', { tags: { owner: 'alice' } }],
      ['DELETE', '/v1/vms/r1/o-bob-1', undefined],
      ['POST', '/v1/start', { vm_name: 'o-bob-1', region_name: 'r1' }],
    ] as const) {
      expect((await h.fetch(path, { method, json, token: ALICE })).status, `${method} ${path}`).toBe(404);
    }
    // With If-Match (even `*`, or bob's VM's real ETag) it is still 404: the ETag tells nothing of another owner's VM.
    const bobs = (await h.fetch('/v1/vms/r1/o-bob-1')).headers.get('etag') ?? '';
    for (const ifMatch of ['*', bobs]) {
      const r = await h.fetch('/v1/vms/r1/o-bob-1/tags', { method: 'PUT', json: { tags: { owner: 'alice' } }, token: ALICE, headers: { 'if-match': ifMatch } });
      expect(r.status, ifMatch).toBe(404);
      expect(r.headers.get('etag')).toBeNull();
    }
    expect(await h.jobCount()).toBe(before);
    expect((await h.fetch('/v1/vms/r1/o-alice-1/start', { method: 'POST', token: ALICE })).status).toBe(202);
  });

  it('creates get the owner tag forced; naming another owner is 422; edits keep the owner', async () => {
    const r = await h.fetch('/v1/vms', { method: 'POST', json: create('o-new', { env: 'dev' }), token: ALICE });
    expect(r.status).toBe(202);
    const job = (await r.json()) as JobView;
    const found = await h.queues.find(job.id);
    expect(found?.job.data.tags).toEqual({ env: 'dev', owner: 'alice' });
    expect(found?.job.data.owner).toBe('alice');
    expect((await h.fetch('/v1/vms', { method: 'POST', json: create('o-new-2', { owner: 'bob' }), token: ALICE })).status).toBe(422);

    // The pending VM (create not run yet) is alice's, not bob's.
    expect((await h.fetch('/v1/vms/r1/o-new', { token: ALICE })).status).toBe(200);
    expect((await h.fetch('/v1/vms/r1/o-new', { token: BOB })).status).toBe(404);
    expect((await h.fetch('/v1/vms/r1/o-new/start', { method: 'POST', token: BOB })).status).toBe(404);

    const edit = await h.fetch('/v1/vms/r1/o-new/tags', { method: 'PUT', json: { tags: { env: 'prod' } }, token: ALICE });
    expect(edit.status).toBe(202);
    expect((await h.queues.find(((await edit.json()) as JobView).id))?.job.data.tags).toEqual({ env: 'prod', owner: 'alice' });
    expect((await h.fetch('/v1/vms/r1/o-new/tags', { method: 'PUT', json: { tags: { owner: 'bob' } }, token: ALICE })).status).toBe(422);
  });

  it('share one namespace of VM names per region: a create of a name another owner holds is 409, and tells nothing more', async () => {
    // Documented in docs/security.md (Owner-bound tokens): a name is the domain's on
    // its host, and any owner's VM may be placed on any host of the region.
    await h.writeInventory('r1', 'h1', [{ name: 'o-bob-1', tags: { owner: 'bob', secret: 'x' } }]);
    const before = await h.jobCount();
    expect((await h.fetch('/v1/vms/r1/o-bob-1', { token: ALICE })).status).toBe(404);
    const r = await h.fetch('/v1/vms', { method: 'POST', json: create('o-bob-1'), token: ALICE });
    expect(r.status).toBe(409);
    const body = (await r.json()) as { error: { code: string } };
    expect(body.error.code).toBe('CONFLICT');
    // Neither its owner, its host nor its tags.
    expect(JSON.stringify(body)).not.toMatch(/"owner"|"tags"|"host"|\bh1\b|secret/);
    expect(await h.jobCount()).toBe(before);
  });

  it('see and cancel only their jobs', async () => {
    const a = (await (await h.fetch('/v1/vms', { method: 'POST', json: create('o-job-a'), token: ALICE })).json()) as JobView;
    const b = (await (await h.fetch('/v1/vms', { method: 'POST', json: create('o-job-b'), token: BOB })).json()) as JobView;
    expect((await h.fetch(`/v1/jobs/${a.id}`, { token: ALICE })).status).toBe(200);
    expect((await h.fetch(`/v1/jobs/${b.id}`, { token: ALICE })).status).toBe(404);
    expect((await h.fetch(`/v1/jobs/${b.id}/events`, { token: ALICE })).status).toBe(404);
    expect((await h.fetch(`/v1/jobs/${b.id}/cancel`, { method: 'POST', token: ALICE })).status).toBe(404);
    const jobs = (await (await h.fetch('/v1/jobs?limit=500', { token: ALICE })).json()) as { jobs: JobView[] };
    const ids = jobs.jobs.map((j) => j.id);
    expect(ids).toContain(a.id);
    expect(ids).not.toContain(b.id);
    for (const j of jobs.jobs) expect((await h.queues.find(j.id))?.job.data.owner).toBe('alice');
    // Unbound tokens see both.
    expect((await h.fetch(`/v1/jobs/${b.id}`)).status).toBe(200);
  });
});
