/**
 * Capacity-aware placement end to end: one region with two independent hosts on this machine, each its
 * own sshd and its own libvirt instance (the loopback automation user's session libvirt through the
 * shared sshd, and a second user's through an sshd of the test's own), each with its own image cache and
 * disks; real API and worker processes, real Redis. The system libvirt other tests share is not used, so
 * their VMs do not take capacity here.
 */
import { cpus } from 'node:os';
import { type HostInfoRecord, hostQueueName } from '@provisioner/contracts';
import { DomainNotFoundError, type Hypervisor } from '@provisioner/libvirt';
import { keys } from '@provisioner/store/testing';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, type LoopbackHost, makeHypervisor, makeImages, sessionHost, startHostSshd, startImageServer, uniqueName } from '../support/host.ts';
import { freePort, hostConfig, type Stack, spawnApp, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
const first = sessionHost(host);
let second: LoopbackHost;
let sshd: { stop(): Promise<void> };
let hv1: Hypervisor;
let hv2: Hypervisor;
const made: string[] = [];
const n = cpus().length;
let stack: Stack;
let images: ImageServer;
let image: string;

beforeAll(async () => {
  const port = await freePort();
  second = { ...sessionHost(host, 'provisioner2'), port };
  sshd = await startHostSshd(port, ['provisioner2']);
  hv1 = makeHypervisor(first);
  hv2 = makeHypervisor(second);
  // These session libvirts serve only this file: a run killed halfway may have left its VMs there.
  for (const hv of [hv1, hv2]) {
    for (const d of await hv.listDomains()) if (/^(pl|full)-[0-9a-f]{8}$/.test(d.name)) await hv.undefine(d.name);
  }
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 64 }]));
  image = uniqueName('img');
  // With one vCPU per CPU: h1 keeps 2 vCPUs for VMs, h2 one.
  stack = await startStack({
    host: first,
    images: { [image]: { url: images.url('tiny.qcow2') } },
    extra: { placement: { cpu_allocation_ratio: 1, host_info_cache_ms: 0 } },
    h1: { reserved_vcpus: n - 2 },
    extraHosts: [hostConfig('h2', second, 4, { reserved_vcpus: n - 1 })],
  });
  // The workers publish host info with each inventory refresh; ask for one and wait for both hosts.
  await stack.fetch('/v1/vms?refresh=true');
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    const raw = await stack.redis.mget(keys.hostInfo(stack.prefix, 'r1', 'h1'), keys.hostInfo(stack.prefix, 'r1', 'h2'));
    if (raw.every((r) => r !== null)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no host info published\n${stack.logs.slice(-30).join('\n')}`);
}, 300_000);

afterAll(async () => {
  // Workers first, so no create is still running when its leftovers are removed.
  await stack?.stop();
  for (const name of made) {
    await hv1?.undefine(name).catch(() => undefined);
    await hv2?.undefine(name).catch(() => undefined);
  }
  await images?.close();
  await Promise.all([hv1?.close(), hv2?.close()]);
  await sshd?.stop();
});

async function create(name: string) {
  made.push(name);
  const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image }) });
  return {
    status: r.status,
    body: (await r.json()) as { id: string; target: { host: string }; error: { message: string; details: { reason: string; hosts: unknown[] } } },
  };
}

async function jobCount(): Promise<number> {
  let total = 0;
  for (const h of ['h1', 'h2']) {
    const q = new Queue(hostQueueName('r1', h), { connection: stack.redis, prefix: stack.prefix });
    const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
    total += Object.values(c).reduce((a, b) => a + b, 0);
    await q.close();
  }
  return total;
}

async function expectFull(): Promise<void> {
  const before = await jobCount();
  const name = uniqueName('full');
  const r = await create(name);
  expect(r.status).toBe(409);
  expect(r.body.error.message).toContain('h1: needs 1 vCPUs, 0 of 2 free; h2: needs 1 vCPUs, 0 of 1 free');
  expect(r.body.error.details).toMatchObject({ reason: 'capacity', hosts: [{ host: 'h1' }, { host: 'h2' }] });
  expect(await jobCount()).toBe(before);
  expect(await stack.redis.get(keys.vmHost(stack.prefix, 'r1', name))).toBeNull();
}

describe('placement over two independent hosts', () => {
  it('the workers publish each host’s CPUs, memory and free disk', async () => {
    for (const h of ['h1', 'h2']) {
      const info = JSON.parse((await stack.redis.get(keys.hostInfo(stack.prefix, 'r1', h))) ?? '{}') as HostInfoRecord;
      expect(info.cpus).toBe(n);
      expect(info.memory_mb).toBeGreaterThan(0);
      expect(info.disk_free_bytes).toBeGreaterThan(0);
    }
  });

  it('spreads creates by free capacity, skips the full host, answers 409 with nothing queued when both are full', async () => {
    const [a, b, c] = [uniqueName('pl'), uniqueName('pl'), uniqueName('pl')];
    // h1 half full after a; equal after b (then fewer VMs wins); h2 is full for c.
    const ra = await create(a);
    expect(ra.status).toBe(202);
    expect(ra.body.target.host).toBe('h1');
    const rb = await create(b);
    expect(rb.body.target.host).toBe('h2');
    const rc = await create(c);
    expect(rc.body.target.host).toBe('h1');
    // Counted while queued (not in any inventory yet) ...
    await expectFull();
    for (const r of [ra, rb, rc]) expect((await waitJob(stack, r.body.id)).state).toBe('succeeded');
    // ... and once listed.
    await expectFull();
    // Each VM is on its own host's libvirt, and only there.
    expect((await hv1.getDomain(a)).name).toBe(a);
    expect((await hv1.getDomain(c)).name).toBe(c);
    expect((await hv2.getDomain(b)).name).toBe(b);
    await expect(hv1.getDomain(b)).rejects.toBeInstanceOf(DomainNotFoundError);
    await expect(hv2.getDomain(a)).rejects.toBeInstanceOf(DomainNotFoundError);
    const list = (await (await stack.fetch('/v1/vms')).json()) as { vms: Array<{ vm_name: string; host: string }> };
    const hosts = Object.fromEntries(list.vms.map((v) => [v.vm_name, v.host]));
    expect(hosts).toMatchObject({ [a]: 'h1', [b]: 'h2', [c]: 'h1' });

    // Deleting b frees h2 again.
    const del = (await (await stack.fetch(`/v1/vms/r1/${b}`, { method: 'DELETE' })).json()) as { id: string };
    expect((await waitJob(stack, del.id)).state).toBe('succeeded');
    const d = uniqueName('pl');
    const rd = await create(d);
    expect(rd.body.target.host).toBe('h2');
    expect((await waitJob(stack, rd.body.id)).state).toBe('succeeded');
    for (const name of [a, c, d]) {
      const r = (await (await stack.fetch(`/v1/vms/r1/${name}`, { method: 'DELETE' })).json()) as { id: string };
      expect((await waitJob(stack, r.id)).state).toBe('succeeded');
    }
  }, 240_000);
});

/** Stops the stack's API process and starts a new one on the same configuration (and port). */
async function restartApi(): Promise<void> {
  const old = stack.api;
  await new Promise<void>((r) => {
    old.once('exit', () => r());
    old.kill('SIGTERM');
  });
  const env = { PROVISIONER_CONFIG: stack.configPath, PORT: '', REDIS_URL: '', API_TOKEN: '', LOG_LEVEL: '' };
  const api = spawnApp('api', env, stack.logs, 'api-restarted');
  // stop() ends every process of `apis`.
  stack.apis.push(api);
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    if ((await fetch(`${stack.url}/health`).catch(() => null))?.ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the API did not come back\n${stack.logs.slice(-20).join('\n')}`);
}

const post = async (path: string, body?: unknown, token?: string) =>
  stack.fetch(path, { method: 'POST', ...(body === undefined ? {} : { body: JSON.stringify(body) }), ...(token ? { token } : {}) });

describe('cordoned hosts', () => {
  it('get no new VMs (the other host takes them; none left → 409 naming the cordon, nothing queued), across an API restart; their VMs still stop and delete; uncordon restores', async () => {
    const [a, b, d] = [uniqueName('pl'), uniqueName('pl'), uniqueName('pl')];
    const ra = await create(a);
    expect(ra.body.target.host).toBe('h1');
    expect((await waitJob(stack, ra.body.id)).state).toBe('succeeded');

    expect((await post('/v1/regions/r1/hosts/h1/cordon', undefined, stack.tokens.write)).status).toBe(403);
    const c1 = await post('/v1/regions/r1/hosts/h1/cordon', { reason: 'kernel update' });
    expect(c1.status).toBe(200);
    expect(await c1.json()).toMatchObject({ region: 'r1', host: 'h1', cordoned: true, cordoned_by: 'admin', reason: 'kernel update' });
    // h1 still has a free vCPU, h2 one too: the cordon sends it to h2.
    const rb = await create(b);
    expect(rb.status).toBe(202);
    expect(rb.body.target.host).toBe('h2');
    expect((await waitJob(stack, rb.body.id)).state).toBe('succeeded');
    expect((await hv2.getDomain(b)).name).toBe(b);

    expect((await post('/v1/regions/r1/hosts/h2/cordon')).status).toBe(200);
    const refused = async () => {
      const before = await jobCount();
      const name = uniqueName('full');
      const r = await create(name);
      expect(r.status).toBe(409);
      expect(r.body.error.message).toMatch(
        /^no host in region r1 takes new VMs \(h1: cordoned by admin at \S+: kernel update; h2: cordoned by admin at \S+\)$/,
      );
      expect(r.body.error.details).toMatchObject({ reason: 'cordoned' });
      expect(await jobCount()).toBe(before);
      expect(await stack.redis.get(keys.vmHost(stack.prefix, 'r1', name))).toBeNull();
    };
    await refused();

    // Kept in Redis: a new API process still sees both cordons.
    await restartApi();
    await refused();
    const regions = (await (await stack.fetch('/v1/regions?hosts=true')).json()) as Array<{ hosts: Array<{ host: string; cordoned: boolean }> }>;
    expect(regions[0]?.hosts.map((x) => x.cordoned)).toEqual([true, true]);
    const metrics = await (await stack.fetch('/metrics')).text();
    expect(metrics).toContain('provisioner_host_cordoned{region="r1",host="h1"} 1');
    expect(metrics).toContain('provisioner_host_cordoned{region="r1",host="h2"} 1');

    // Operations on the cordoned hosts' VMs go on.
    const stop = (await (await post(`/v1/vms/r1/${a}/stop`, { force: true })).json()) as { id: string };
    expect((await waitJob(stack, stop.id)).state).toBe('succeeded');
    expect(await hv1.domainState(a)).toBe('shut off');
    const del = (await (await stack.fetch(`/v1/vms/r1/${b}`, { method: 'DELETE' })).json()) as { id: string };
    expect((await waitJob(stack, del.id)).state).toBe('succeeded');
    await expect(hv2.getDomain(b)).rejects.toBeInstanceOf(DomainNotFoundError);

    // Uncordoned, h1 takes new VMs again (h2 stays cordoned though it is empty now).
    expect(await (await post('/v1/regions/r1/hosts/h1/uncordon')).json()).toMatchObject({ host: 'h1', cordoned: false, cordoned_by: null });
    const rd = await create(d);
    expect(rd.status).toBe(202);
    expect(rd.body.target.host).toBe('h1');
    expect((await waitJob(stack, rd.body.id)).state).toBe('succeeded');
    expect((await hv1.getDomain(d)).name).toBe(d);
    await post('/v1/regions/r1/hosts/h2/uncordon');
    for (const name of [a, d]) {
      const r = (await (await stack.fetch(`/v1/vms/r1/${name}`, { method: 'DELETE' })).json()) as { id: string };
      expect((await waitJob(stack, r.id)).state).toBe('succeeded');
    }
  }, 300_000);
});
