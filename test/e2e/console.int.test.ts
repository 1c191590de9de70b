/**
 * The console route and the guest fields of the VM view through the real stack (API, worker, loopback host)
 * with a blank-disk VM (no OS: its console stays silent, its guest never gets ready). The real guest's
 * console and addresses are test/guest/readiness.int.test.ts.
 */
import { unlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
const name = uniqueName('con');
let stack: Stack;
let images: ImageServer;

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'blank.qcow2', sizeMiB: 16 }]));
  stack = await startStack({ host, images: { blank: { url: images.url('blank.qcow2') } } });
  const r = await stack.fetch('/v1/vms', {
    method: 'POST',
    body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image: 'blank', tags: { owner: 'carol' } }),
  });
  expect(r.status).toBe(202);
  const job = await waitJob(stack, ((await r.json()) as { id: string }).id);
  expect(job.state).toBe('succeeded');
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await hv.undefine(name).catch(() => undefined);
  await images?.close();
  await hv.close();
});

describe('GET /v1/vms/{region}/{name}/console on the loopback host', () => {
  it('answers what the VM’s console log holds, as text/plain, not cached; the console job leaves no trace', async () => {
    const r = await stack.fetch(`/v1/vms/r1/${name}/console?tail_bytes=4096`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(r.headers.get('cache-control')).toBe('no-store');
    const text = await r.text();
    // A blank disk has nothing to say on the serial console (SeaBIOS writes to the screen): the log exists and is
    // what the host has, read directly.
    const direct = await hv.consoleTail(name, 4096);
    expect(direct?.source).toBe('current');
    expect(text).toBe(direct?.text);
    // Removed on completion, and its text taken: no console job or console key is left in Redis.
    const jobs = (await (await stack.fetch('/v1/jobs?kind=console')).json()) as { jobs: unknown[] };
    expect(jobs.jobs).toEqual([]);
    expect(await stack.redis.keys(`${stack.prefix}:console:*`)).toEqual([]);
  });

  it('needs the write scope', async () => {
    expect((await stack.fetch(`/v1/vms/r1/${name}/console`, { token: stack.tokens.read })).status).toBe(403);
  });

  it('404 with a clear message when the VM has no console log', async () => {
    // The loopback host is this machine: remove the log as if the VM predated console logging.
    unlinkSync(hv.paths(name).console);
    const r = await stack.fetch(`/v1/vms/r1/${name}/console`);
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/no console log yet/);
  });
});

describe('the VM view’s addresses and guest, from the listing', () => {
  it('a running blank VM (no NIC here, no agent): no addresses, guest not ready; the listing asked its agent', async () => {
    const r = await stack.fetch(`/v1/vms/r1/${name}?refresh=true`);
    expect(r.status).toBe(200);
    const vm = (await r.json()) as { state: string; ip: string | null; addresses: unknown[]; guest: Record<string, unknown> };
    expect(vm.state).toBe('running');
    expect(vm.ip).toBeNull();
    expect(vm.addresses).toEqual([]);
    // Asked this listing (the agent channel is there, nothing in the guest opens it): absent, not unknown.
    expect(vm.guest).toEqual({ agent: 'absent', cloud_init: 'unknown', ready: false, ready_at: null });
    // The listing with its guest part is one SSH exec; a VM known ready is not asked at all.
    const before = hv.ssh.stats.channels;
    const asked = await hv.listDomainsWithGuests();
    expect(hv.ssh.stats.channels - before).toBe(1);
    expect(asked.domains.some((d) => d.name === name)).toBe(true);
    expect(asked.guests.get(name)).toEqual({ state: 'running', agent: 'absent', cloud_init: 'unknown', addresses: [] });
    expect((await hv.listDomainsWithGuests({ skipAgent: [name] })).guests.has(name)).toBe(false);
    // The legacy list keeps its shape.
    const legacy = (await (await stack.fetch('/v1/list')).json()) as Array<Record<string, unknown>>;
    expect(Object.keys(legacy.find((v) => v.name === name) ?? {}).sort()).toEqual(['dom_id', 'name', 'region_name', 'state', 'tags']);
  });
});
