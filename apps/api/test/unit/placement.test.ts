import { ConfigSchema, type HostInfoRecord } from '@provisioner/contracts';
import { keys } from '@provisioner/store/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { type HostState, hostCapacity } from '../../src/admission/capacity.ts';
import { place } from '../../src/admission/placement.ts';
import { deletePrefix, TOKENS, useHarness, vm } from './harness.ts';

const FP = `SHA256:${'A'.repeat(43)}`;
const hostCfg = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  address: '127.0.0.1',
  port: 22,
  private_key_path: '/nonexistent/key',
  host_key_fingerprint: FP,
  ...extra,
});
const ratios = { cpu_allocation_ratio: 16, memory_allocation_ratio: 1.5 };
const GiB = 1024 ** 3;

function info(cpus: number, memory_mb: number, diskGiB = 100): HostInfoRecord {
  return {
    observed_at: new Date().toISOString(),
    cpus,
    memory_mb,
    memory_available_mb: memory_mb,
    disk_free_bytes: diskGiB * GiB,
    disk_total_bytes: 2 * diskGiB * GiB,
    kvm: true,
  };
}

function state(name: string, o: Partial<HostState> & { cfg?: Record<string, unknown> } = {}): HostState {
  const host = ConfigSchema.parse({
    user_data_key: Buffer.alloc(32).toString('base64'),
    regions: [{ region_name: 'r', hosts: [hostCfg(name, o.cfg)], available_instance_types: [{ instance_type: 't', vcpus: 1, memory_mb: 1, storage_mb: 1 }] }],
  }).regions[0]?.hosts[0];
  if (!host) throw new Error('no host');
  return { host, entry: null, info: null, pending: { n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 }, queued: 0, cordon: null, ...o };
}

const entry = (host: string, vms: Array<{ name: string; vcpus: number; memory_mb: number }>, error: string | null = null) => ({
  region: 'r',
  host,
  observed_at: null,
  attempted_at: '',
  error,
  vms: vms.map((v) => vm(v)),
});

describe('place (pure)', () => {
  const need = { vcpus: 2, memory_mb: 2048, storage_mb: 10_240 };

  it('passes over a cordoned host whatever its room, and says who cordoned it, when and why', () => {
    const cordon = { cordoned_by: 'ops', cordoned_at: '2030-01-01T00:00:00.000Z', reason: 'disk swap' };
    const roomy = state('a', { info: info(64, 262_144), cordon });
    expect(place([roomy, state('b', { info: info(4, 8192) })], need, ratios)).toMatchObject({ ok: true, host: 'b' });
    expect(place([roomy], need, ratios)).toMatchObject({
      ok: false,
      reasons: [{ host: 'a', reason: 'cordoned by ops at 2030-01-01T00:00:00.000Z: disk swap', cordoned: true }],
    });
  });

  it('counts vCPUs and memory with the allocation ratios and the host reserves', () => {
    const c = hostCapacity(state('a', { info: info(4, 8192), cfg: { reserved_vcpus: 4, reserved_memory_mb: 1024 } }), ratios);
    expect(c.vcpus_total).toBe(4 * 16 - 4);
    expect(c.memory_mb_total).toBe(8192 * 1.5 - 1024);
    expect(c.disk_free_mb).toBe(100 * 1024);
  });

  it('puts the VM on the host with the most room after placement, counting creates not listed yet', () => {
    const a = state('a', { info: info(2, 8192), entry: entry('a', [{ name: 'x', vcpus: 8, memory_mb: 1024 }]) });
    const b = state('b', { info: info(2, 8192), pending: { n: 1, vcpus: 4, memory_mb: 1024, storage_mb: 1 } });
    // a: 8+2 of 32 vCPUs; b: 4+2 of 32 → b.
    expect(place([a, b], need, ratios)).toMatchObject({ ok: true, host: 'b' });
    // A bigger host takes it although it has more VMs.
    const big = state('c', { info: info(64, 262_144), entry: entry('c', [{ name: 'y', vcpus: 16, memory_mb: 4096 }]) });
    expect(place([a, b, big], need, ratios)).toMatchObject({ ok: true, host: 'c' });
  });

  it('skips hosts the VM does not fit on (vCPUs, memory, disk, VM cap) and says why; none fits → not ok', () => {
    const full = state('cpu', { info: info(1, 65_536), entry: entry('cpu', [{ name: 'x', vcpus: 15, memory_mb: 1 }]) });
    const mem = state('mem', { info: info(64, 2048), cfg: { reserved_memory_mb: 1100 } });
    const disk = state('disk', { info: info(64, 65_536, 9) });
    const capped = state('cap', { info: info(64, 65_536), cfg: { max_vms: 1 }, pending: { n: 1, vcpus: 1, memory_mb: 1, storage_mb: 1 } });
    const r = place([full, mem, disk, capped], need, ratios);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reasons).toEqual([
      { host: 'cpu', reason: 'needs 2 vCPUs, 1 of 16 free' },
      { host: 'mem', reason: 'needs 2048 MiB of memory, 1972 of 1972 free' },
      { host: 'disk', reason: 'needs 10240 MiB of disk, 9216 free' },
      { host: 'cap', reason: 'at its cap of 1 VMs' },
    ]);
  });

  it('prefers listed hosts, then hosts below their operation limit, then fewer VMs; unknown capacity last', () => {
    const ok = () => state('ok', { info: info(8, 16_384) });
    expect(place([state('err', { info: info(64, 262_144), entry: entry('err', [], 'ECONNREFUSED') }), ok()], need, ratios)).toMatchObject({ host: 'ok' });
    expect(place([state('busy', { info: info(64, 262_144), queued: 4 }), ok()], need, ratios)).toMatchObject({ host: 'ok' });
    expect(place([state('unknown'), ok()], need, ratios)).toMatchObject({ host: 'ok' });
    // Equal load: fewer queued operations, then the first configured.
    expect(place([state('p', { info: info(8, 16_384), queued: 2 }), state('q', { info: info(8, 16_384), queued: 1 })], need, ratios)).toMatchObject({
      host: 'q',
    });
    expect(place([state('p', { info: info(8, 16_384) }), state('q', { info: info(8, 16_384) })], need, ratios)).toMatchObject({ host: 'p' });
  });
});

const h = useHarness({
  extra: {
    placement: { host_info_cache_ms: 0 },
    regions: [
      {
        region_name: 'r1',
        hosts: [hostCfg('h1', { reserved_vcpus: 30 }), hostCfg('h2', { max_vms: 1 })],
        available_instance_types: [
          { instance_type: 'tiny', vcpus: 1, memory_mb: 512, storage_mb: 1024 },
          { instance_type: 'large', vcpus: 8, memory_mb: 16384, storage_mb: 102400 },
        ],
      },
    ],
  },
});

beforeEach(async () => {
  await deletePrefix(h.redis, h.prefix);
});

const create = async (name: string, extra: Record<string, unknown> = {}) => {
  const r = await h.fetch('/v1/vms', { method: 'POST', json: { vm_name: name, region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', ...extra } });
  return { status: r.status, body: (await r.json()) as { target?: { host: string }; error?: { message: string; details?: unknown } } };
};

describe('POST /v1/vms placement', () => {
  const publish = (host: string, i: HostInfoRecord) => h.redis.set(keys.hostInfo(h.prefix, 'r1', host), JSON.stringify(i));

  it('places by the host info workers publish and the caps, counts accepted creates, and answers 409 with nothing queued when no host has room', async () => {
    // h1: 2 CPUs × 16 − 30 reserved = 2 vCPUs; h2: one VM at most.
    await publish('h1', info(2, 65_536));
    await publish('h2', info(2, 65_536));
    expect((await create('p1')).body.target?.host).toBe('h1');
    expect((await create('p2')).body.target?.host).toBe('h2');
    expect((await create('p3')).body.target?.host).toBe('h1');
    const before = await h.jobCount();
    const full = await create('p4');
    expect(full.status).toBe(409);
    expect(full.body.error?.message).toContain('h1: needs 1 vCPUs, 0 of 2 free; h2: at its cap of 1 VMs');
    expect(full.body.error?.details).toMatchObject({ reason: 'capacity', hosts: [{ host: 'h1' }, { host: 'h2' }] });
    expect(await h.jobCount()).toBe(before);
    expect(await h.redis.get(keys.vmHost(h.prefix, 'r1', 'p4'))).toBeNull();
  });

  it('counts listed VMs once (not again as pending) and forgets creates whose name was freed', async () => {
    await publish('h1', info(2, 65_536));
    await publish('h2', info(2, 65_536));
    expect((await create('q1')).body.target?.host).toBe('h1');
    // The create ran: q1 is listed on h1 and still pending: counted once (1 of 2 vCPUs).
    await h.writeInventory('r1', 'h1', [{ name: 'q1', vcpus: 1 }]);
    await h.writeInventory('r1', 'h2', [{ name: 'other' }]);
    expect((await create('q2')).body.target?.host).toBe('h1');
    // q2's create was canceled: its name is free, so its vCPU is free again.
    await h.redis.del(keys.vmHost(h.prefix, 'r1', 'q2'));
    expect((await create('q3')).body.target?.host).toBe('h1');
    expect(await h.redis.hexists(keys.pendingCreates(h.prefix, 'r1', 'h1'), 'q2')).toBe(0);
  });

  it('a pinned host must be in the region and have room', async () => {
    await publish('h1', info(2, 65_536));
    await publish('h2', info(2, 65_536));
    expect((await create('r-1', { host: 'h2' })).body.target?.host).toBe('h2');
    const full = await create('r-2', { host: 'h2' });
    expect(full.status).toBe(409);
    expect(full.body.error?.message).toContain('h2: at its cap of 1 VMs');
    expect((await create('r-3', { host: 'nope' })).status).toBe(422);
  });

  it('concurrent creates never place more than a host has room for', async () => {
    await publish('h1', info(2, 65_536));
    await publish('h2', info(2, 65_536));
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => create(`c${i}`)));
    const hosts = rs.filter((r) => r.status === 202).map((r) => r.body.target?.host);
    expect(hosts.sort()).toEqual(['h1', 'h1', 'h2']);
    expect(rs.filter((r) => r.status === 409)).toHaveLength(37);
    expect(await h.redis.hgetall(keys.pendingTotals(h.prefix, 'r1', 'h1'))).toMatchObject({ n: '2', vcpus: '2' });
  });

  it('a create that fits by the running totals does not wait for the region lock (held here by another process)', async () => {
    await publish('h1', info(2, 65_536));
    await publish('h2', info(2, 65_536));
    await h.redis.set(`${h.prefix}:quotalock:r1`, 'another-process', 'PX', 60_000);
    expect((await create('nolock-1')).status).toBe(202);
    expect((await create('nolock-2')).status).toBe(202);
    await h.redis.del(`${h.prefix}:quotalock:r1`);
  });

  it('a canceled create gives its room back at once', async () => {
    await publish('h1', info(2, 65_536));
    await publish('h2', info(2, 65_536));
    const r = await h.fetch('/v1/vms', { method: 'POST', json: { vm_name: 'cx', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', host: 'h2' } });
    const job = (await r.json()) as { id: string };
    expect(await h.redis.hget(keys.pendingTotals(h.prefix, 'r1', 'h2'), 'n')).toBe('1');
    expect((await h.fetch(`/v1/jobs/${job.id}/cancel`, { method: 'POST' })).status).toBe(200);
    expect(await h.redis.hget(keys.pendingTotals(h.prefix, 'r1', 'h2'), 'n')).toBe('0');
    expect((await create('cy', { host: 'h2' })).status).toBe(202);
  });
});

describe('GET /v1/regions?hosts=true for admins', () => {
  it('adds each host’s health and capacity as placement counts it, never its address or credentials; only for admins', async () => {
    await h.redis.set(keys.hostInfo(h.prefix, 'r1', 'h1'), JSON.stringify(info(2, 4096)));
    await h.writeInventory('r1', 'h1', [{ name: 'x', vcpus: 1, memory_mb: 512 }]);
    await h.writeInventory('r1', 'h2', [], { error: 'connect ECONNREFUSED' });
    const body = (await (await h.fetch('/v1/regions?hosts=true')).json()) as Array<{ region_name: string; hosts: unknown[] }>;
    expect(body[0]?.hosts).toEqual([
      {
        host: 'h1',
        observed_at: expect.any(String),
        error: null,
        cpus: 2,
        memory_mb: 4096,
        kvm: true,
        info_observed_at: expect.any(String),
        cordoned: false,
        cordon: null,
        capacity: {
          vms: 1,
          max_vms: null,
          vcpus_used: 1,
          vcpus_total: 2,
          memory_mb_used: 512,
          memory_mb_total: 6144,
          disk_free_mb: 100 * 1024,
          queued_ops: 0,
          max_concurrent_operations: 4,
        },
      },
      expect.objectContaining({
        host: 'h2',
        error: 'connect ECONNREFUSED',
        cpus: null,
        capacity: expect.objectContaining({ vms: 0, max_vms: 1, vcpus_total: null }),
      }),
    ]);
    expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|nonexistent|SHA256/);
    expect((await h.fetch('/v1/regions?hosts=true', { token: TOKENS.read })).status).toBe(403);
    // Without it, the replaced service's shape (the chat bot uses an admin token).
    expect(((await (await h.fetch('/v1/regions')).json()) as unknown[])[0]).not.toHaveProperty('hosts');
  });
});

describe('cordon and uncordon (admin)', () => {
  const publish = (host: string, i: HostInfoRecord) => h.redis.set(keys.hostInfo(h.prefix, 'r1', host), JSON.stringify(i));

  it('a cordoned host gets no new VMs; both cordoned → 409 naming the cordon, nothing queued; uncordon restores', async () => {
    await publish('h1', info(2, 65_536));
    await publish('h2', info(2, 65_536));
    const r = await h.fetch('/v1/regions/r1/hosts/h1/cordon', { method: 'POST', json: { reason: 'disk swap' } });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ region: 'r1', host: 'h1', cordoned: true, cordoned_by: 'admin', cordoned_at: expect.any(String), reason: 'disk swap' });
    // h1 has the most room but is cordoned.
    expect((await create('k1')).body.target?.host).toBe('h2');
    // A create pinned to it is refused too.
    const pinned = await create('k2', { host: 'h1' });
    expect(pinned.status).toBe(409);
    expect(pinned.body.error?.message).toMatch(/h1: cordoned by admin at \S+: disk swap/);
    // No body: cordoned without a reason.
    expect(await (await h.fetch('/v1/regions/r1/hosts/h2/cordon', { method: 'POST' })).json()).toMatchObject({ cordoned: true, reason: null });
    const before = await h.jobCount();
    const both = await create('k3');
    expect(both.status).toBe(409);
    expect(both.body.error?.message).toContain('no host in region r1 takes new VMs (h1: cordoned by admin');
    expect(both.body.error?.details).toMatchObject({
      reason: 'cordoned',
      hosts: [
        { host: 'h1', cordoned: true },
        { host: 'h2', cordoned: true },
      ],
    });
    expect(await h.jobCount()).toBe(before);
    expect(await h.redis.get(keys.vmHost(h.prefix, 'r1', 'k3'))).toBeNull();
    // Shown to admins with each host, and as a gauge.
    const regions = (await (await h.fetch('/v1/regions?hosts=true')).json()) as Array<{ hosts: Array<{ host: string; cordoned: boolean; cordon: unknown }> }>;
    expect(regions[0]?.hosts.map((x) => [x.host, x.cordoned])).toEqual([
      ['h1', true],
      ['h2', true],
    ]);
    expect(regions[0]?.hosts[0]?.cordon).toMatchObject({ cordoned_by: 'admin', reason: 'disk swap' });
    const metrics = await (await h.fetch('/metrics')).text();
    expect(metrics).toContain('provisioner_host_cordoned{region="r1",host="h1"} 1');
    expect(metrics).toContain('provisioner_host_cordoned{region="r1",host="h2"} 1');
    const u = await h.fetch('/v1/regions/r1/hosts/h1/uncordon', { method: 'POST' });
    expect(await u.json()).toEqual({ region: 'r1', host: 'h1', cordoned: false, cordoned_by: null, cordoned_at: null });
    expect((await create('k4')).body.target?.host).toBe('h1');
    expect(await (await h.fetch('/metrics')).text()).toContain('provisioner_host_cordoned{region="r1",host="h1"} 0');
  });

  it('only admins; unknown region or host is 404; an unknown body field is 422', async () => {
    for (const token of [TOKENS.write, TOKENS.read]) {
      expect((await h.fetch('/v1/regions/r1/hosts/h1/cordon', { method: 'POST', token })).status).toBe(403);
      expect((await h.fetch('/v1/regions/r1/hosts/h1/uncordon', { method: 'POST', token })).status).toBe(403);
    }
    expect(await h.redis.exists(keys.hostCordon(h.prefix, 'r1', 'h1'))).toBe(0);
    expect((await h.fetch('/v1/regions/nope/hosts/h1/cordon', { method: 'POST' })).status).toBe(404);
    expect((await h.fetch('/v1/regions/r1/hosts/h9/cordon', { method: 'POST' })).status).toBe(404);
    expect((await h.fetch('/v1/regions/r1/hosts/h1/cordon', { method: 'POST', json: { why: 'x' } })).status).toBe(422);
  });
});
