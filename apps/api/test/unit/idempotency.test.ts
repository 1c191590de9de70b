import { createHash } from 'node:crypto';
import type { JobView } from '@provisioner/contracts';
import { keys } from '@provisioner/store/testing';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/idempotency.ts';
import { fakeWorker, TOKENS, useHarness } from './harness.ts';

const h = useHarness();

const create = (vm_name: string, extra: Record<string, unknown> = {}) => ({ vm_name, region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', ...extra });
const post = (path: string, json: unknown, key: string, token = TOKENS.write, method = 'POST') =>
  h.fetch(path, { method, json, token, headers: { 'Idempotency-Key': key } });

describe('Idempotency-Key', () => {
  it('replays the same 202 job for the same key and body, also after the job was removed; 422 for another body', async () => {
    const first = await post('/v1/vms', create('idem-a', { tags: { a: '1', b: '2' } }), 'key-a-1');
    expect(first.status).toBe(202);
    const job = (await first.json()) as JobView;
    expect(await h.jobCount()).toBe(1);

    // Same body with keys in another order: the same request.
    const again = await post('/v1/vms', { tags: { b: '2', a: '1' }, image: 'v0.76.0', instance_type: 'tiny', region_name: 'r1', vm_name: 'idem-a' }, 'key-a-1');
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('location')).toBe(`/v1/jobs/${job.id}`);
    expect(((await again.json()) as JobView).id).toBe(job.id);
    expect(await h.jobCount()).toBe(1);

    // BullMQ removes the job (retention): the key still answers with the original job.
    const found = await h.queues.find(job.id);
    await found?.job.remove();
    expect(await h.jobCount()).toBe(0);
    const afterRemoval = await post('/v1/vms', create('idem-a', { tags: { a: '1', b: '2' } }), 'key-a-1');
    expect(afterRemoval.status).toBe(202);
    expect(((await afterRemoval.json()) as JobView).id).toBe(job.id);
    expect(await h.jobCount()).toBe(0);

    const other = await post('/v1/vms', create('idem-a-other'), 'key-a-1');
    expect(other.status).toBe(422);
    expect(await h.jobCount()).toBe(0);

    // The same key on another route is another request too.
    await h.writeInventory('r2', 'h1', [{ name: 'idem-a-vm' }]);
    expect((await post('/v1/vms/r2/idem-a-vm/start', undefined, 'key-a-1')).status).toBe(422);
  });

  it('scopes keys by token: another token with the same key gets its own job', async () => {
    const a = await post('/v1/vms', create('idem-b1'), 'shared-key-1', TOKENS.write);
    const b = await post('/v1/vms', create('idem-b1'), 'shared-key-1', TOKENS.admin);
    expect(a.status).toBe(202);
    // Not a replay of the writer's job: a fresh request, refused because the name is now taken.
    expect(b.status).toBe(409);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
  });

  it('50 concurrent identical requests create one job and all answer with it', async () => {
    const before = await h.jobCount();
    const answers = await Promise.all(Array.from({ length: 50 }, () => post('/v1/vms', create('idem-c'), 'burst-key-0001')));
    const statuses = answers.map((r) => r.status);
    expect(new Set(statuses)).toEqual(new Set([202]));
    const ids = new Set(await Promise.all(answers.map(async (r) => ((await r.json()) as JobView).id)));
    expect(ids.size).toBe(1);
    expect((await h.jobCount()) - before).toBe(1);
  });

  it('frees the key when nothing was submitted, so a corrected retry can use it', async () => {
    const bad = await post('/v1/vms', create('idem-d', { image: 'no-such-image' }), 'key-d-1');
    expect(bad.status).toBe(422);
    const record = keys.idempotency(h.prefix, createHash('sha256').update('writer\nkey-d-1').digest('hex'));
    expect(await h.redis.exists(record)).toBe(0);
    expect(await h.redis.exists(keys.idempotency(h.prefix, createHash('sha256').update('writer\nkey-a-1').digest('hex')))).toBe(1);
    const badAgain = await post('/v1/vms', create('idem-d', { image: 'no-such-image' }), 'key-d-1');
    expect(badAgain.status).toBe(422);
    expect(badAgain.headers.get('idempotent-replayed')).toBeNull();
  });

  it('rejects malformed keys with 400 before anything is queued', async () => {
    const before = await h.jobCount();
    for (const key of ['', 'has space', 'x'.repeat(256), 'tab\there', 'ümlaut']) {
      const r = await h
        .fetch('/v1/vms', { method: 'POST', json: create('idem-e'), token: TOKENS.write, headers: { 'Idempotency-Key': key } })
        .catch(() => null);
      // undici refuses to send some of these headers at all; those that go out are refused.
      if (r) expect(r.status, JSON.stringify(key)).toBe(400);
    }
    expect(await h.jobCount()).toBe(before);
  });

  it('legacy routes: a replay waits for the same job and gives the same outcome, after it finished too', async () => {
    const w = fakeWorker(h, 'r2', 'h1');
    try {
      await h.writeInventory('r2', 'h1', [{ name: 'idem-legacy' }]);
      const body = { vm_name: 'idem-legacy', region_name: 'r2' };
      const [a, b] = await Promise.all([post('/v1/start', body, 'legacy-key-1'), post('/v1/start', body, 'legacy-key-1')]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(await a.json()).toEqual({ message: 'Success' });
      expect(await b.json()).toEqual({ message: 'Success' });
      const jobs = await h.fetch('/v1/jobs?vm_name=idem-legacy&kind=start');
      expect(((await jobs.json()) as { jobs: unknown[] }).jobs).toHaveLength(1);
      const later = await post('/v1/start', body, 'legacy-key-1');
      expect(later.status).toBe(200);
      expect(later.headers.get('idempotent-replayed')).toBe('true');
      expect(((await (await h.fetch('/v1/jobs?vm_name=idem-legacy&kind=start')).json()) as { jobs: unknown[] }).jobs).toHaveLength(1);
    } finally {
      await w.close();
    }
  });

  it('canonical JSON ignores key order and whitespace, not values', () => {
    expect(canonicalJson(JSON.parse('{"b": [1, {"y":2,"x":1}], "a": null}'))).toBe('{"a":null,"b":[1,{"x":1,"y":2}]}');
    expect(canonicalJson({ a: '1' })).not.toBe(canonicalJson({ a: 1 }));
  });
});
