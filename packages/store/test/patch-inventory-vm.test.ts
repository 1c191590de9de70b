/** InventoryStore and its script (patchInventoryVm) against the machine's Redis. */
import { GUEST_UNKNOWN, type InventoryEntry, type InventoryVm } from '@provisioner/contracts';
import { describe, expect, it } from 'vitest';
import { InventoryStore } from '../src/inventory-store.ts';
import { keys } from '../src/keys.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('inv');
const vm = (name: string, state = 'running'): InventoryVm => ({
  name,
  uuid: `uuid-${name}`,
  dom_id: 1,
  state,
  managed: true,
  tags: { owner: 'alice' },
  ip: null,
  vcpus: 1,
  memory_mb: 512,
  image: null,
  instance_type: 'tiny',
  addresses: [],
  guest: GUEST_UNKNOWN,
  snapshots: [],
});
const entry = (host: string, vms: InventoryVm[]): InventoryEntry => ({ region: 'r1', host, observed_at: 'now', attempted_at: 'now', error: null, vms });

describe('patchInventoryVm', () => {
  it('answers false and writes nothing when the host has no entry yet', async () => {
    const store = new InventoryStore(env.redis, env.prefix);
    expect(await store.patchVm('r1', 'none', 'a', vm('a'))).toBe(false);
    expect(await env.redis.exists(keys.inventory(env.prefix, 'r1', 'none'))).toBe(0);
  });

  it('replaces a VM, adds an unknown one, removes one, and keeps the rest of the entry', async () => {
    const store = new InventoryStore(env.redis, env.prefix);
    await store.putEntry(entry('h1', [vm('a'), vm('b')]));
    expect(await store.patchVm('r1', 'h1', 'a', vm('a', 'shut off'))).toBe(true);
    expect(await store.patchVm('r1', 'h1', 'c', vm('c'))).toBe(true);
    expect(await store.patchVm('r1', 'h1', 'b', null)).toBe(true);
    const e = await store.entry('r1', 'h1');
    expect(e?.vms.map((v) => [v.name, v.state])).toEqual([
      ['a', 'shut off'],
      ['c', 'running'],
    ]);
    expect(e?.vms[0]?.tags).toEqual({ owner: 'alice' });
    expect(e).toMatchObject({ region: 'r1', host: 'h1', observed_at: 'now', error: null });
  });

  it('removing the last VM leaves an empty array (not the object Redis’ cjson would write), so readers still take the entry', async () => {
    const store = new InventoryStore(env.redis, env.prefix);
    await store.putEntry(entry('h2', [vm('a')]));
    await store.patchVm('r1', 'h2', 'a', null);
    expect(JSON.parse((await env.redis.get(keys.inventory(env.prefix, 'r1', 'h2'))) ?? '').vms).toEqual([]);
    expect((await store.entries([{ region: 'r1', host: 'h2' }]))[0]?.vms).toEqual([]);
    // Removing a VM that is not there changes nothing.
    expect(await store.patchVm('r1', 'h2', 'ghost', null)).toBe(true);
    expect((await store.entry('r1', 'h2'))?.vms).toEqual([]);
  });

  it('reads entries written before addresses, guest and snapshots existed with their defaults, and empty lists stay lists through a patch', async () => {
    const store = new InventoryStore(env.redis, env.prefix);
    const { addresses: _a, guest: _g, snapshots: _s, ...old } = vm('old');
    await env.redis.set(keys.inventory(env.prefix, 'r1', 'h3'), JSON.stringify(entry('h3', [old as InventoryVm])));
    expect((await store.entry('r1', 'h3'))?.vms[0]).toEqual({ ...old, addresses: [], guest: GUEST_UNKNOWN, snapshots: [] });
    const ready = { ...vm('new'), addresses: [{ ip: '10.0.0.5', family: 'ipv4' as const, mac: null, source: 'agent' as const }] };
    await store.patchVm('r1', 'h3', 'new', { ...ready, guest: { agent: 'connected', cloud_init: 'done', ready: true, ready_at: 'then' } });
    // The patch script re-encodes the other VMs with Redis' cjson, which writes [] as {}.
    await store.patchVm('r1', 'h3', 'other', vm('other'));
    const vms = (await store.entry('r1', 'h3'))?.vms ?? [];
    expect(vms.map((v) => [v.name, v.addresses.length, v.guest.ready])).toEqual([
      ['old', 0, false],
      ['new', 1, true],
      ['other', 0, false],
    ]);
    expect(vms.map((v) => v.snapshots)).toEqual([[], [], []]);
    expect(vms.every((v) => Array.isArray(v.addresses))).toBe(true);
    expect(vms[1]?.guest).toEqual({ agent: 'connected', cloud_init: 'done', ready: true, ready_at: 'then' });
  });

  it('reads host info and image cache records, null for a host with none or an unreadable one', async () => {
    const store = new InventoryStore(env.redis, env.prefix);
    const info = { observed_at: 'now', cpus: 4, memory_mb: 8192, memory_available_mb: 4096, disk_free_bytes: 1, disk_total_bytes: 2, kvm: true };
    await store.putHostInfo('r1', 'h1', info);
    await env.redis.set(keys.hostInfo(env.prefix, 'r1', 'h2'), '{not json');
    expect(
      await store.hostInfo([
        { region: 'r1', host: 'h1' },
        { region: 'r1', host: 'h2' },
        { region: 'r1', host: 'h3' },
      ]),
    ).toEqual([info, null, null]);
    await store.putImageCache('r1', 'h1', { checked_at: 'now', images: {}, pruned: [] });
    await env.redis.set(keys.imageCache(env.prefix, 'r1', 'h2'), '{"images":null}');
    expect(
      await store.imageCaches([
        { region: 'r1', host: 'h1' },
        { region: 'r1', host: 'h2' },
      ]),
    ).toEqual([{ checked_at: 'now', images: {}, pruned: [] }, null]);
    expect(await store.entries([])).toEqual([]);
  });
});

describe('InventoryStore.entries keeps a parsed entry while its version is unchanged', () => {
  const hosts = [{ region: 'r1', host: 'v1' }];

  it('reuses the parsed entry until another process writes it (putEntry or patchVm), then reads it again', async () => {
    const reader = new InventoryStore(env.redis, env.prefix);
    const writer = new InventoryStore(env.redis, env.prefix);
    await writer.putEntry(entry('v1', [vm('a'), vm('b')]));
    const [first] = await reader.entries(hosts);
    expect(first?.vms.map((v) => v.name)).toEqual(['a', 'b']);
    // Unchanged: the very same object, not a second parse of the JSON.
    expect((await reader.entries(hosts))[0]).toBe(first);
    await writer.patchVm('r1', 'v1', 'c', vm('c'));
    const [patched] = await reader.entries(hosts);
    expect(patched).not.toBe(first);
    expect(patched?.vms.map((v) => v.name)).toEqual(['a', 'b', 'c']);
    await writer.putEntry(entry('v1', [vm('z')]));
    expect((await reader.entries(hosts))[0]?.vms.map((v) => v.name)).toEqual(['z']);
    // Deleted and written again (a flushed prefix): a new version, never one the reader holds.
    const held = await env.redis.get(keys.inventoryVersion(env.prefix, 'r1', 'v1'));
    await env.redis.del(keys.inventory(env.prefix, 'r1', 'v1'), keys.inventoryVersion(env.prefix, 'r1', 'v1'));
    await writer.putEntry(entry('v1', [vm('y')]));
    expect(await env.redis.get(keys.inventoryVersion(env.prefix, 'r1', 'v1'))).not.toBe(held);
    expect((await reader.entries(hosts))[0]?.vms.map((v) => v.name)).toEqual(['y']);
  });

  it('reads an entry that has no version counter every time', async () => {
    const reader = new InventoryStore(env.redis, env.prefix);
    await env.redis.set(keys.inventory(env.prefix, 'r1', 'v2'), JSON.stringify(entry('v2', [vm('a')])));
    const [first] = await reader.entries([{ region: 'r1', host: 'v2' }]);
    await env.redis.set(keys.inventory(env.prefix, 'r1', 'v2'), JSON.stringify(entry('v2', [vm('b')])));
    const [second] = await reader.entries([{ region: 'r1', host: 'v2' }]);
    expect([first?.vms[0]?.name, second?.vms[0]?.name]).toEqual(['a', 'b']);
  });
});

describe('putListedEntry: a listing never undoes a patch made while it ran', () => {
  it('keeps a VM deleted, added or changed by a patch after the listing began, and takes the listing for the rest', async () => {
    const store = new InventoryStore(env.redis, env.prefix);
    await store.putEntry(entry('l1', [vm('gone'), vm('kept'), vm('stopped')]));
    // A patch before the listing began is what the listing already shows: the listing wins for it.
    await store.patchVm('r1', 'l1', 'kept', vm('kept', 'paused'));
    const since = await store.patchSeq('r1', 'l1');
    // While the host is being listed: a delete, a create and a stop end and patch their VMs.
    await store.patchVm('r1', 'l1', 'gone', null);
    await store.patchVm('r1', 'l1', 'born', vm('born'));
    await store.patchVm('r1', 'l1', 'stopped', vm('stopped', 'shut off'));
    // The listing, taken before those operations ended, still shows the old world.
    await store.putListedEntry(entry('l1', [vm('gone'), vm('kept'), vm('stopped'), vm('other')]), since);
    const e = await store.entry('r1', 'l1');
    expect(e?.vms.map((v) => [v.name, v.state]).sort()).toEqual([
      ['born', 'running'],
      ['kept', 'running'],
      ['other', 'running'],
      ['stopped', 'shut off'],
    ]);
    expect(e).toMatchObject({ region: 'r1', host: 'l1', observed_at: 'now', error: null });
    // The next listing (begun after those patches) is the truth again, and the patch record is trimmed.
    const next = await store.patchSeq('r1', 'l1');
    await store.putListedEntry(entry('l1', [vm('kept')]), next);
    expect((await store.entry('r1', 'l1'))?.vms.map((v) => v.name)).toEqual(['kept']);
    expect(await env.redis.hkeys(keys.inventoryPatches(env.prefix, 'r1', 'l1'))).toEqual(['#seq']);
  });

  it('writes an empty listing as an empty array and bumps the version readers watch', async () => {
    const store = new InventoryStore(env.redis, env.prefix);
    await store.putEntry(entry('l2', [vm('a')]));
    const before = await env.redis.get(keys.inventoryVersion(env.prefix, 'r1', 'l2'));
    await store.putListedEntry(entry('l2', []), await store.patchSeq('r1', 'l2'));
    expect(JSON.parse((await env.redis.get(keys.inventory(env.prefix, 'r1', 'l2'))) ?? '').vms).toEqual([]);
    expect(await env.redis.get(keys.inventoryVersion(env.prefix, 'r1', 'l2'))).not.toBe(before);
  });
});
