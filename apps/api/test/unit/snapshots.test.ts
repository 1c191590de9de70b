/**
 * The snapshot routes' checks before anything is queued (names, 404, 409 for a taken name, the region's
 * cap and a snapshot from before a resize), owner scoping, the listing from the inventory and the jobs
 * they queue. The host side is test/e2e/snapshots.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { TOKENS, useHarness } from './harness.ts';

const BOB = 'tok-bob-snapshots-0123456789abcdef';
const FP = `SHA256:${'A'.repeat(43)}`;
const host = (name: string) => ({ name, address: '127.0.0.1', port: 22, private_key_path: '/nonexistent/key', host_key_fingerprint: FP });
const TYPES = [
  { instance_type: 'tiny', vcpus: 1, memory_mb: 512, storage_mb: 4096 },
  { instance_type: 'large', vcpus: 8, memory_mb: 16384, storage_mb: 102400 },
];
const h = useHarness({
  extra: {
    tokens: [
      { name: 'admin', token: TOKENS.admin, scopes: ['admin'] },
      { name: 'bob', token: BOB, scopes: ['read', 'write'], owner: 'bob' },
    ],
    regions: [
      { region_name: 'r1', hosts: [host('h1')], available_instance_types: TYPES, max_snapshots_per_vm: 2 },
      { region_name: 'r2', hosts: [host('h1')], available_instance_types: TYPES },
    ],
  },
});

const snap = (name: string, instance_type = 'tiny') => ({
  name,
  created_at: '2026-01-05T10:15:00.000Z',
  state: 'running',
  instance_type,
  vcpus: 1,
  memory_mb: 512,
});

describe('snapshot routes', () => {
  it('list the inventory’s snapshots (in the VM view too), owner-scoped', async () => {
    await h.writeInventory('r2', 'h1', [
      { name: 'alice-vm', tags: { owner: 'alice' }, snapshots: [snap('one'), snap('two')] },
      { name: 'bob-vm', tags: { owner: 'bob' } },
    ]);
    const r = await h.fetch('/v1/vms/r2/alice-vm/snapshots');
    expect(r.status).toBe(200);
    const want = [
      { name: 'one', created_at: '2026-01-05T10:15:00.000Z', state: 'running', instance_type: 'tiny' },
      { name: 'two', created_at: '2026-01-05T10:15:00.000Z', state: 'running', instance_type: 'tiny' },
    ];
    expect(await r.json()).toEqual({ snapshots: want });
    expect(((await (await h.fetch('/v1/vms/r2/alice-vm')).json()) as { snapshots: unknown }).snapshots).toEqual(want);
    expect(await (await h.fetch('/v1/vms/r2/bob-vm/snapshots', { token: BOB })).json()).toEqual({ snapshots: [] });
    // Another owner's VM, or none at all: 404 alike.
    expect((await h.fetch('/v1/vms/r2/alice-vm/snapshots', { token: BOB })).status).toBe(404);
    expect((await h.fetch('/v1/vms/r2/nobody/snapshots')).status).toBe(404);
    const before = await h.jobCount();
    expect((await h.fetch('/v1/vms/r2/alice-vm/snapshots', { method: 'POST', token: BOB, json: { name: 'x' } })).status).toBe(404);
    expect(await h.jobCount()).toBe(before);
  });

  it('422 for names that are not DNS labels, in the body or the path, with nothing queued', async () => {
    await h.writeInventory('r2', 'h1', [{ name: 'vm-a', snapshots: [snap('one')] }]);
    const before = await h.jobCount();
    for (const name of ['Upper', '-dash', 'a b', 'x'.repeat(64), '', "x';reboot"]) {
      const r = await h.fetch('/v1/vms/r2/vm-a/snapshots', { method: 'POST', json: { name } });
      expect(r.status, name).toBe(422);
    }
    expect((await h.fetch('/v1/vms/r2/vm-a/snapshots', { method: 'POST', json: {} })).status).toBe(422);
    expect((await h.fetch('/v1/vms/r2/vm-a/snapshots/Bad_Name/revert', { method: 'POST' })).status).toBe(422);
    expect((await h.fetch('/v1/vms/r2/vm-a/snapshots/Bad_Name', { method: 'DELETE' })).status).toBe(422);
    expect(await h.jobCount()).toBe(before);
  });

  it('create: 202 with a snapshot-create job; 409 for a taken name and at the region’s cap', async () => {
    await h.writeInventory('r1', 'h1', [
      { name: 'capped', snapshots: [snap('one'), snap('two')] },
      { name: 'room', snapshots: [snap('one')] },
    ]);
    const before = await h.jobCount();
    const full = await h.fetch('/v1/vms/r1/capped/snapshots', { method: 'POST', json: { name: 'three' } });
    expect(full.status).toBe(409);
    expect(((await full.json()) as { error: { message: string } }).error.message).toMatch(/max_snapshots_per_vm 2/);
    const taken = await h.fetch('/v1/vms/r1/room/snapshots', { method: 'POST', json: { name: 'one' } });
    expect(taken.status).toBe(409);
    expect(await h.jobCount()).toBe(before);
    const ok = await h.fetch('/v1/vms/r1/room/snapshots', { method: 'POST', json: { name: 'two' } });
    expect(ok.status).toBe(202);
    expect(ok.headers.get('location')).toMatch(/^\/v1\/jobs\/job_/);
    const job = (await ok.json()) as { kind: string; target: unknown; steps: Array<{ name: string }> };
    expect(job.kind).toBe('snapshot-create');
    expect(job.target).toEqual({ region: 'r1', vm_name: 'room', host: 'h1' });
    expect(job.steps.map((s) => s.name)).toEqual(['snapshot']);
  });

  it('revert and delete: 404 for an unknown snapshot, 409 for one taken with another instance type, else 202', async () => {
    await h.writeInventory('r2', 'h1', [
      { name: 'resized', instance_type: 'large', vcpus: 8, memory_mb: 16384, snapshots: [snap('old', 'tiny'), snap('new', 'large')] },
    ]);
    const before = await h.jobCount();
    expect((await h.fetch('/v1/vms/r2/resized/snapshots/nope/revert', { method: 'POST' })).status).toBe(404);
    expect((await h.fetch('/v1/vms/r2/resized/snapshots/nope', { method: 'DELETE' })).status).toBe(404);
    const old = await h.fetch('/v1/vms/r2/resized/snapshots/old/revert', { method: 'POST' });
    expect(old.status).toBe(409);
    expect(((await old.json()) as { error: { message: string } }).error.message).toMatch(/instance type tiny.*now large.*shrink/);
    expect(await h.jobCount()).toBe(before);
    const rv = await h.fetch('/v1/vms/r2/resized/snapshots/new/revert', { method: 'POST' });
    expect(rv.status).toBe(202);
    expect(((await rv.json()) as { kind: string; steps: Array<{ name: string }> }).steps.map((s) => s.name)).toEqual(['check', 'revert', 'set-tags']);
    // A snapshot older than a resize can still be deleted.
    const del = await h.fetch('/v1/vms/r2/resized/snapshots/old', { method: 'DELETE' });
    expect(del.status).toBe(202);
    expect(((await del.json()) as { kind: string }).kind).toBe('snapshot-delete');
    expect(await h.jobCount()).toBe(before + 2);
  });
});
