/**
 * A write built from a read carries what it read: `GET /v1/vms/{region}/{name}` answers an ETag that
 * changes with the VM's tags, state and spec (and with every operation queued on it), and
 * `PUT …/tags` with a stale `If-Match` is 412 with the current tags and ETag, nothing queued. Without
 * `If-Match` the PUT replaces the tags as it always did; the legacy `POST /v1/edit-tags` is unchanged.
 * A pending VM (its create not run yet) shows what its create asked for.
 */
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ifMatchAdmits } from '../../src/services/read-vm.ts';
import { deletePrefix, fakeWorker, TOKENS, useHarness } from './harness.ts';

const h = useHarness();
let worker: Worker | undefined;

beforeAll(() => {
  // r2/h1 finishes every job at once (the legacy route waits for its job); r1 has no worker: its jobs stay queued.
  worker = fakeWorker(h, 'r2', 'h1');
});
afterAll(async () => {
  await worker?.close();
});
beforeEach(async () => {
  await deletePrefix(h.redis, h.prefix);
});

interface Stale {
  error: { code: string; message: string; details: { etag: string; tags: Record<string, string> } };
}

async function etagOf(path: string): Promise<string> {
  const r = await h.fetch(path);
  expect(r.status).toBe(200);
  const etag = r.headers.get('etag');
  expect(etag).toMatch(/^"\d+\.[A-Za-z0-9_-]{22}"$/);
  return etag as string;
}

function putTags(path: string, tags: Record<string, string>, ifMatch?: string) {
  return h.fetch(`${path}/tags`, { method: 'PUT', json: { tags }, headers: ifMatch === undefined ? {} : { 'if-match': ifMatch } });
}

describe('GET /v1/vms/{region}/{name}: the ETag', () => {
  it('stays while nothing changes (a new listing included) and changes with the tags, the state, the spec and a queued operation', async () => {
    const base = { name: 'et-vm', state: 'running', dom_id: 3, tags: { owner: 'alice', env: 'dev' } };
    await h.writeInventory('r1', 'h1', [base]);
    const first = await etagOf('/v1/vms/r1/et-vm');
    expect(await etagOf('/v1/vms/r1/et-vm')).toBe(first);
    // The host listed again a minute later, nothing else new; tags in another order are the same tags.
    await h.writeInventory('r1', 'h1', [{ ...base, tags: { env: 'dev', owner: 'alice' } }], { observed_at: new Date(Date.now() + 60_000).toISOString() });
    expect(await etagOf('/v1/vms/r1/et-vm')).toBe(first);

    const seen = new Set([first]);
    const after = async (vm: Record<string, unknown>) => {
      await h.writeInventory('r1', 'h1', [{ ...base, ...vm }]);
      const e = await etagOf('/v1/vms/r1/et-vm');
      expect(seen.has(e), JSON.stringify(vm)).toBe(false);
      seen.add(e);
    };
    await after({ tags: { owner: 'alice', env: 'prod' } });
    await after({ state: 'shut off', dom_id: null });
    await after({ vcpus: 2, memory_mb: 1024, instance_type: 'large' });
    await after({ image: 'debian-12' });

    // A queued operation makes every earlier read stale before it runs (r1 has no worker: it stays queued).
    const before = await etagOf('/v1/vms/r1/et-vm');
    expect((await h.fetch('/v1/vms/r1/et-vm/stop', { method: 'POST' })).status).toBe(202);
    expect(await etagOf('/v1/vms/r1/et-vm')).not.toBe(before);
  });

  it('a pending VM shows what its create asked for (type, vCPUs, memory, image, tags), with an ETag', async () => {
    const c = await h.fetch('/v1/vms', {
      method: 'POST',
      json: { vm_name: 'et-new', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', tags: { owner: 'ux', project: 'demo' } },
    });
    expect(c.status).toBe(202);
    const r = await h.fetch('/v1/vms/r1/et-new', { token: TOKENS.read });
    expect(r.status).toBe(200);
    expect(r.headers.get('etag')).toMatch(/^"1\./);
    expect(await r.json()).toMatchObject({
      vm_name: 'et-new',
      state: 'pending',
      tags: { owner: 'ux', project: 'demo' },
      vcpus: 1,
      memory_mb: 512,
      instance_type: 'tiny',
      image: 'v0.76.0',
    });
  });
});

describe('PUT /v1/vms/{region}/{name}/tags with If-Match', () => {
  it('a stale ETag is 412 with the current tags and ETag, and nothing is queued; the current one is 202', async () => {
    await h.writeInventory('r1', 'h1', [{ name: 'et-tags', state: 'running', tags: { owner: 'ux', project: 'demo' } }]);
    const read = await etagOf('/v1/vms/r1/et-tags');
    // Someone else changed the tags since (the worker wrote the inventory after their edit).
    await h.writeInventory('r1', 'h1', [{ name: 'et-tags', state: 'running', tags: { owner: 'ux', project: 'other' } }]);
    const now = await etagOf('/v1/vms/r1/et-tags');
    const jobs = await h.jobCount();

    const stale = await putTags('/v1/vms/r1/et-tags', {}, read);
    expect(stale.status).toBe(412);
    expect(stale.headers.get('etag')).toBe(now);
    const body = (await stale.json()) as Stale;
    expect(body.error.code).toBe('PRECONDITION_FAILED');
    expect(body.error.message).toContain('r1/et-tags changed since it was read');
    expect(body.error.details).toEqual({ etag: now, tags: { owner: 'ux', project: 'other' } });
    expect(await h.jobCount()).toBe(jobs);

    // A weak tag never matches (strong comparison); a list matches when one of its tags does.
    expect((await putTags('/v1/vms/r1/et-tags', {}, `W/${now}`)).status).toBe(412);
    const ok = await putTags('/v1/vms/r1/et-tags', { owner: 'ux', project: 'demo' }, `"0.nope", ${now}`);
    expect(ok.status).toBe(202);
    expect(await h.jobCount()).toBe(jobs + 1);
    // That edit is queued (r1 has no worker): the ETag it was sent with is stale now, and the tags read
    // (and the 412's) are those it sets, so a write built from them is layered on it, not on what it replaces.
    const again = await putTags('/v1/vms/r1/et-tags', {}, now);
    expect(again.status).toBe(412);
    expect(((await again.json()) as Stale).error.details.tags).toEqual({ owner: 'ux', project: 'demo' });
    expect(await h.jobCount()).toBe(jobs + 1);
    const read2 = await h.fetch('/v1/vms/r1/et-tags');
    expect(((await read2.json()) as { tags: Record<string, string> }).tags).toEqual({ owner: 'ux', project: 'demo' });
    expect(read2.headers.get('etag')).toBe(again.headers.get('etag'));
  });

  it('of two writers holding the same read, exactly one is queued', async () => {
    await h.writeInventory('r1', 'h1', [{ name: 'et-race', state: 'running', tags: { owner: 'ux' } }]);
    const read = await etagOf('/v1/vms/r1/et-race');
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => putTags('/v1/vms/r1/et-race', { owner: 'ux', writer: String(i) }, read).then((r) => r.status)),
    );
    expect(answers.filter((s) => s === 202)).toHaveLength(1);
    expect(answers.filter((s) => s === 412)).toHaveLength(5);
    expect(await h.jobCount()).toBe(1);
  });

  it('without If-Match (or with *) the tags are replaced whatever they are now, as before', async () => {
    await h.writeInventory('r1', 'h1', [{ name: 'et-blind', state: 'running', tags: { owner: 'ux' } }]);
    await etagOf('/v1/vms/r1/et-blind');
    await h.writeInventory('r1', 'h1', [{ name: 'et-blind', state: 'running', tags: { owner: 'ux', changed: 'yes' } }]);
    const blind = await putTags('/v1/vms/r1/et-blind', { owner: 'ux', mine: '1' });
    expect(blind.status).toBe(202);
    expect(((await blind.json()) as { kind: string }).kind).toBe('edit-tags');
    expect((await putTags('/v1/vms/r1/et-blind', { owner: 'ux', mine: '2' }, '*')).status).toBe(202);
    expect(await h.jobCount()).toBe(2);
    // An unknown VM is still 404, If-Match or not.
    expect((await putTags('/v1/vms/r1/et-none', {}, '*')).status).toBe(404);
    expect((await putTags('/v1/vms/r1/et-none', {})).status).toBe(404);
  });

  it('the legacy POST /v1/edit-tags is unchanged: it ignores If-Match and answers Success', async () => {
    await h.writeInventory('r2', 'h1', [{ name: 'et-legacy', state: 'running', tags: { owner: 'ux' } }]);
    const r = await h.fetch('/v1/edit-tags', {
      method: 'POST',
      json: { vm_name: 'et-legacy', region_name: 'r2', tags: { owner: 'ux', via: 'legacy' } },
      headers: { 'if-match': '"0.stale"' },
    });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ message: 'Success' });
    expect(r.headers.get('etag')).toBeNull();
  });
});

describe('ifMatchAdmits', () => {
  it('admits *, or an equal strong tag among a list; never a weak one or another', () => {
    const e = '"3.abc"';
    expect(ifMatchAdmits('*', e)).toBe(true);
    expect(ifMatchAdmits(' "3.abc" ', e)).toBe(true);
    expect(ifMatchAdmits('"1.x", "3.abc"', e)).toBe(true);
    expect(ifMatchAdmits('W/"3.abc"', e)).toBe(false);
    expect(ifMatchAdmits('"3.abd"', e)).toBe(false);
    expect(ifMatchAdmits('3.abc', e)).toBe(false);
    expect(ifMatchAdmits('', e)).toBe(false);
  });
});
