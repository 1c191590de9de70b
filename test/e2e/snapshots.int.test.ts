/**
 * Snapshots through the real stack (API, worker, loopback host) on blank-disk VMs made the service's way
 * (qcow2 overlay on the image cache, read-only raw seed with snapshot="no", serial console log), checked on
 * the host itself: `virsh snapshot-list`, `virsh domstate`, the disk's bytes through `qemu-io`. The real
 * guest's revert (a file in the guest) is test/guest/snapshot.int.test.ts.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostQueueName, type ProgressData } from '@provisioner/contracts';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../node_modules/.bin/provisioner');
const host = inject('loopbackHost');
const hv = makeHypervisor(host);
let stack: Stack;
let images: ImageServer;
let queue: Queue;
const made: string[] = [];

interface JobBody {
  id: string;
  state: string;
  error: { code: string; message: string } | null;
  attempts: number;
  result: Record<string, unknown> | null;
}

const virsh = (...args: string[]) => execFileSync('virsh', ['-q', '-c', host.libvirt_uri, ...args], { encoding: 'utf8' }).trim();
const snapshotList = (vm: string) => virsh('snapshot-list', vm, '--name').split('\n').filter(Boolean).sort();
const domstate = (vm: string) => virsh('domstate', vm);
/** qemu-io on a stopped VM's disk: `read -P` fails ("Pattern verification failed") when the bytes differ. */
const qemuIo = (disk: string, cmd: string) => {
  const r = spawnSync('qemu-io', ['-f', 'qcow2', '-c', cmd, disk], { encoding: 'utf8' });
  return { ok: r.status === 0 && !/Pattern verification failed/.test(r.stdout), out: `${r.stdout}${r.stderr}` };
};

async function submit(path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await stack.fetch(path, { method: 'POST', ...init });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

async function job(path: string, init: RequestInit = {}): Promise<JobBody> {
  const r = await submit(path, init);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return (await waitJob(stack, String(r.body.id), 120_000)) as unknown as JobBody;
}

async function createVm(prefix: string, tags: Record<string, string>): Promise<string> {
  const name = uniqueName(prefix);
  made.push(name);
  const body = JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image: 'blank', tags });
  expect((await job('/v1/vms', { body })).state).toBe('succeeded');
  return name;
}

const snap = (vm: string, name: string) => job(`/v1/vms/r1/${vm}/snapshots`, { body: JSON.stringify({ name }) });

/** The installed CLI with the stack's URL and write token, as a user would run it. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, PROVISIONER_URL: stack.url, PROVISIONER_TOKEN: stack.tokens.write, PROVISIONER_REGION: 'r1' };
  const child = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((res) => child.on('close', (code) => res({ code, stdout, stderr })));
}

async function runningStep(id: string): Promise<{ step: string | null; finished: boolean }> {
  const j = await queue.getJob(id);
  const p = (typeof j?.progress === 'object' ? j.progress : null) as ProgressData | null;
  return { step: p?.steps?.find((s) => s.state === 'running')?.name ?? null, finished: Boolean(j?.finishedOn) };
}

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'blank.qcow2', sizeMiB: 16 }]));
  stack = await startStack({ host, images: { blank: { url: images.url('blank.qcow2') } }, region: { max_snapshots_per_vm: 3 } });
  queue = new Queue(hostQueueName('r1', 'h1'), { connection: stack.redis, prefix: stack.prefix });
}, 180_000);

afterAll(async () => {
  await queue?.close();
  await stack?.stop();
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await images?.close();
  await hv.close();
});

describe('snapshots of a running VM', () => {
  let vm: string;
  beforeAll(async () => {
    vm = await createVm('snr', { owner: 'alice', env: 'before' });
  }, 180_000);

  it('create: the host has it (internal, memory too: state running), the API lists it from the inventory', async () => {
    const j = await snap(vm, 'first');
    expect(j.state, JSON.stringify(j.error)).toBe('succeeded');
    expect(j.result).toMatchObject({ vm_name: vm, snapshot: 'first', created: true });
    expect(snapshotList(vm)).toEqual(['first']);
    expect(virsh('snapshot-info', vm, 'first')).toMatch(/State:\s+running[\s\S]*Location:\s+internal/);
    // The seed is left out of it; the disk is in it.
    expect(virsh('snapshot-dumpxml', vm, 'first')).toMatch(/<disk name='vdb' snapshot='no'\/>/);
    const list = (await (await stack.fetch(`/v1/vms/r1/${vm}/snapshots`)).json()) as { snapshots: Array<Record<string, unknown>> };
    expect(list.snapshots).toEqual([{ name: 'first', created_at: expect.any(String), state: 'running', instance_type: 'tiny' }]);
    const view = (await (await stack.fetch(`/v1/vms/r1/${vm}`)).json()) as { snapshots: unknown[] };
    expect(view.snapshots).toEqual(list.snapshots);
    // A second one of that name is refused up front.
    expect((await submit(`/v1/vms/r1/${vm}/snapshots`, { body: JSON.stringify({ name: 'first' }) })).status).toBe(409);
  });

  it('revert: the VM runs again from the snapshot, with its current tags (owner above all), not the snapshot’s', async () => {
    expect((await job(`/v1/vms/r1/${vm}/tags`, { method: 'PUT', body: JSON.stringify({ tags: { owner: 'bob', env: 'after' } }) })).state).toBe('succeeded');
    const j = await job(`/v1/vms/r1/${vm}/snapshots/first/revert`);
    expect(j.state, JSON.stringify(j.error)).toBe('succeeded');
    expect(j.result).toMatchObject({ vm_name: vm, snapshot: 'first', state: 'running' });
    expect(domstate(vm)).toBe('running');
    // The definition saved with the snapshot had owner alice; the host has the VM's current tags again, live and persistent.
    expect((await hv.getDomain(vm)).tags).toEqual({ owner: 'bob', env: 'after' });
    expect(virsh('dumpxml', vm, '--inactive')).toContain('<tag key="owner">bob</tag>');
    const view = (await (await stack.fetch(`/v1/vms/r1/${vm}`)).json()) as { tags: Record<string, string>; state: string };
    expect(view).toMatchObject({ tags: { owner: 'bob', env: 'after' }, state: 'running' });
  });

  it('delete: gone from the host and from the listing; the VM keeps running', async () => {
    const j = await job(`/v1/vms/r1/${vm}/snapshots/first`, { method: 'DELETE' });
    expect(j.state, JSON.stringify(j.error)).toBe('succeeded');
    expect(snapshotList(vm)).toEqual([]);
    expect(domstate(vm)).toBe('running');
    expect(((await (await stack.fetch(`/v1/vms/r1/${vm}/snapshots`)).json()) as { snapshots: unknown[] }).snapshots).toEqual([]);
    expect((await submit(`/v1/vms/r1/${vm}/snapshots/first/revert`)).status).toBe(404);
  });

  it('a queued snapshot job canceled never runs', async () => {
    // The reboot's graceful stop waits stop_timeout_ms (the blank guest ignores ACPI): the snapshot queues behind it.
    const reboot = await submit(`/v1/vms/r1/${vm}/reboot`);
    expect(reboot.status).toBe(202);
    const queued = await submit(`/v1/vms/r1/${vm}/snapshots`, { body: JSON.stringify({ name: 'never' }) });
    expect(queued.status).toBe(202);
    // It waits for its turn (delayed between looks, active for an instant at each): canceled while it waits.
    while ((await queue.getJobState(String(queued.body.id))) !== 'delayed') await new Promise((res) => setTimeout(res, 10));
    const c = await stack.fetch(`/v1/jobs/${queued.body.id}/cancel`, { method: 'POST' });
    expect([200, 202]).toContain(c.status);
    expect(((await waitJob(stack, String(queued.body.id))) as unknown as JobBody).state).toBe('canceled');
    expect(((await waitJob(stack, String(reboot.body.id))) as unknown as JobBody).state).toBe('succeeded');
    expect(snapshotList(vm)).toEqual([]);
    expect(domstate(vm)).toBe('running');
  });

  it('the CLI: snapshot create, list, revert and delete (with --wait), checked on the host', async () => {
    const made = await cli(['snapshot', 'create', vm, 'from-cli', '--wait']);
    expect(made.code, made.stderr).toBe(0);
    expect(snapshotList(vm)).toEqual(['from-cli']);
    const list = await cli(['snapshot', 'list', vm]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+CREATED\s+STATE\s+TYPE\nfrom-cli\s+\S+\s+running\s+tiny\n$/);
    expect((await cli(['snapshot', 'revert', vm, 'from-cli', '--wait'])).code).toBe(0);
    expect(domstate(vm)).toBe('running');
    expect((await cli(['snapshot', 'delete', vm, 'from-cli', '--wait'])).code).toBe(0);
    expect(snapshotList(vm)).toEqual([]);
    // Refused by the API: exit 2 with its message, nothing queued.
    const bad = await cli(['snapshot', 'revert', vm, 'from-cli']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/snapshot from-cli of VM r1\/[a-z0-9-]+ not found/);
    expect((await cli(['snapshot', 'create', vm])).code).toBe(2);
  });

  it('SIGKILL of the worker during a snapshot-create: the job ends, with one snapshot of that name and the VM running', async () => {
    let fault = 'no kill landed';
    let name = '';
    // The step lasts a fraction of a second: tried until a kill lands while it runs.
    for (let i = 0; i < 5 && fault === 'no kill landed'; i++) {
      name = `crash-${i}`;
      const r = await submit(`/v1/vms/r1/${vm}/snapshots`, { body: JSON.stringify({ name }) });
      expect(r.status).toBe(202);
      const id = String(r.body.id);
      for (let s = await runningStep(id); !s.finished && s.step !== 'snapshot'; s = await runningStep(id)) await new Promise((res) => setTimeout(res, 2));
      const line = stack.logs.findLast((l) => l.includes(id) && l.includes('job started'));
      const runner = line ? stack.workers[Number(/^\[worker(\d+)\]/.exec(line)?.[1] ?? -1)] : undefined;
      if (runner && !(await runningStep(id)).finished) {
        runner.kill('SIGKILL');
        fault = `SIGKILL during step ${(await runningStep(id)).step}`;
        while (runner.signalCode !== 'SIGKILL') await new Promise((res) => setTimeout(res, 20));
        await stack.startWorker();
      }
      const end = (await waitJob(stack, id, 120_000)) as unknown as JobBody;
      expect(end.state, `${fault}: ${JSON.stringify(end.error)}`).toBe('succeeded');
    }
    expect(fault).toMatch(/^SIGKILL/);
    expect(
      virsh('snapshot-list', vm, '--name')
        .split('\n')
        .filter((n) => n === name),
    ).toHaveLength(1);
    expect(domstate(vm)).toBe('running');
    const list = (await (await stack.fetch(`/v1/vms/r1/${vm}/snapshots`)).json()) as { snapshots: Array<{ name: string }> };
    expect(list.snapshots.map((s) => s.name)).toContain(name);
    expect(list.snapshots.map((s) => s.name).sort()).toEqual(snapshotList(vm));
  }, 300_000);
});

describe('a snapshot taken before a resize', () => {
  it('is refused for revert with 409 (it would shrink the VM), before anything is queued; it can still be deleted', async () => {
    const vm = await createVm('snz', { owner: 'erin' });
    expect((await snap(vm, 'small-days')).state).toBe('succeeded');
    const resized = await job(`/v1/vms/r1/${vm}/resize`, { body: JSON.stringify({ instance_type: 'small', force: true }) });
    expect(resized.state, JSON.stringify(resized.error)).toBe('succeeded');
    expect(virsh('dominfo', vm)).toMatch(/Max memory:\s+131072 KiB/);
    const r = await submit(`/v1/vms/r1/${vm}/snapshots/small-days/revert`);
    expect(r.status).toBe(409);
    expect(JSON.stringify(r.body)).toMatch(/instance type tiny.*now small.*shrink/);
    // Still the resized VM on the host.
    expect(virsh('dominfo', vm)).toMatch(/Max memory:\s+131072 KiB/);
    expect((await job(`/v1/vms/r1/${vm}/snapshots/small-days`, { method: 'DELETE' })).state).toBe('succeeded');
    expect(snapshotList(vm)).toEqual([]);
  });
});

describe('snapshots of a stopped VM', () => {
  let vm: string;
  let disk: string;
  beforeAll(async () => {
    vm = await createVm('sns', { owner: 'carol' });
    disk = hv.paths(vm).disk;
    expect((await job(`/v1/vms/r1/${vm}/stop`, { body: JSON.stringify({ force: true }) })).state).toBe('succeeded');
  }, 180_000);

  it('a revert brings back the disk’s content: bytes written before the snapshot are there, those after are gone', async () => {
    expect(qemuIo(disk, 'write -P 0xaa 0 64k')).toMatchObject({ ok: true, out: expect.stringMatching(/wrote 65536\/65536 bytes/) });
    const j = await snap(vm, 'before');
    expect(j.state, JSON.stringify(j.error)).toBe('succeeded');
    expect(virsh('snapshot-info', vm, 'before')).toMatch(/State:\s+shutoff/);
    expect(qemuIo(disk, 'write -P 0xbb 0 64k').ok).toBe(true);
    expect(qemuIo(disk, 'read -P 0xbb 0 64k').ok).toBe(true);
    const r = await job(`/v1/vms/r1/${vm}/snapshots/before/revert`);
    expect(r.state, JSON.stringify(r.error)).toBe('succeeded');
    // Taken while stopped: it stays stopped.
    expect(domstate(vm)).toBe('shut off');
    expect(qemuIo(disk, 'read -P 0xaa 0 64k')).toMatchObject({ ok: true, out: expect.stringMatching(/read 65536\/65536 bytes/) });
    expect(qemuIo(disk, 'read -P 0xbb 0 64k')).toMatchObject({ ok: false, out: expect.stringMatching(/Pattern verification failed/) });
    // Still an overlay on the image cache: the snapshot lives inside it, on the same backing file.
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', disk], { encoding: 'utf8' })) as {
      'backing-filename'?: string;
      snapshots?: Array<{ name: string }>;
    };
    expect(info['backing-filename']).toMatch(new RegExp(`^${host.images_dir}/sha256-[a-f0-9]{64}$`));
    expect(info.snapshots?.map((s) => s.name)).toEqual(['before']);
  });

  it('the region’s cap: refused up front at the cap, and by the worker for creates queued together', async () => {
    // One snapshot ('before'), cap 3: two more pass; a third is refused by the API before anything is queued.
    const [a, b] = await Promise.all([
      submit(`/v1/vms/r1/${vm}/snapshots`, { body: JSON.stringify({ name: 'two' }) }),
      submit(`/v1/vms/r1/${vm}/snapshots`, { body: JSON.stringify({ name: 'three' }) }),
    ]);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(((await waitJob(stack, String(a.body.id))) as unknown as JobBody).state).toBe('succeeded');
    expect(((await waitJob(stack, String(b.body.id))) as unknown as JobBody).state).toBe('succeeded');
    const over = await submit(`/v1/vms/r1/${vm}/snapshots`, { body: JSON.stringify({ name: 'four' }) });
    expect(over.status).toBe(409);
    expect(JSON.stringify(over.body)).toMatch(/max_snapshots_per_vm 3/);
    // Two accepted while the inventory still showed room: the worker, which counts on the host, refuses the second.
    expect((await job(`/v1/vms/r1/${vm}/snapshots/three`, { method: 'DELETE' })).state).toBe('succeeded');
    const [c, d] = await Promise.all([
      submit(`/v1/vms/r1/${vm}/snapshots`, { body: JSON.stringify({ name: 'five' }) }),
      submit(`/v1/vms/r1/${vm}/snapshots`, { body: JSON.stringify({ name: 'six' }) }),
    ]);
    expect([c.status, d.status]).toEqual([202, 202]);
    const ends = [(await waitJob(stack, String(c.body.id))) as unknown as JobBody, (await waitJob(stack, String(d.body.id))) as unknown as JobBody];
    expect(ends.map((e) => e.state).sort()).toEqual(['failed', 'succeeded']);
    const failed = ends.find((e) => e.state === 'failed');
    expect(failed?.error).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/max_snapshots_per_vm 3/) });
    expect(snapshotList(vm)).toHaveLength(3);
  });

  it('deleting the VM deletes its snapshots and its definition: nothing is left', async () => {
    expect(snapshotList(vm).length).toBeGreaterThan(0);
    const j = await job(`/v1/vms/r1/${vm}`, { method: 'DELETE' });
    expect(j.state, JSON.stringify(j.error)).toBe('succeeded');
    expect(j.result).toMatchObject({ existed: true });
    expect(spawnSync('virsh', ['-c', host.libvirt_uri, 'dominfo', vm]).status).not.toBe(0);
    expect(existsSync(disk)).toBe(false);
    expect(existsSync(hv.paths(vm).seed)).toBe(false);
    // libvirt keeps snapshot metadata per domain name: none is left for a later VM of the same name.
    expect(existsSync(`/var/lib/libvirt/qemu/snapshot/${vm}`) ? execFileSync('ls', [`/var/lib/libvirt/qemu/snapshot/${vm}`], { encoding: 'utf8' }) : '').toBe(
      '',
    );
    expect((await stack.fetch(`/v1/vms/r1/${vm}/snapshots`)).status).toBe(404);
  });
});
