/**
 * Resize end to end: real API and worker processes, real Redis, and blank-disk VMs on a libvirt of their
 * own (the session libvirt of a user of this file's own, through an sshd of its own), so a tight vCPU cap
 * counts only this file's VMs while other files run. Every answer is checked on the host itself: `virsh dominfo`,
 * `qemu-img info`, `domstate`.
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostQueueName } from '@provisioner/contracts';
import type { Hypervisor } from '@provisioner/libvirt';
import { keys } from '@provisioner/store/testing';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, type LoopbackHost, makeHypervisor, makeImages, ownSessionHost, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = resolve(root, 'node_modules/.bin/provisioner');
let host: LoopbackHost;
let own: Awaited<ReturnType<typeof ownSessionHost>> | undefined;
const MiB = 1024 * 1024;
/** The host's vCPU cap for VMs: cpus × ratio − reserved_vcpus. */
const CAP = 4;
const n = cpus().length;
let hv: Hypervisor;
let stack: Stack;
let images: ImageServer;
let image: string;
const made: string[] = [];

beforeAll(async () => {
  own = await ownSessionHost(inject('loopbackHost'), 'prov-resize');
  host = own.host;
  hv = makeHypervisor(host);
  // This session libvirt serves only this file: a run killed halfway may have left VMs of this file.
  for (const d of await hv.listDomains()) if (/^rs-[0-9a-f]{8}$/.test(d.name)) await hv.undefine(d.name);
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 16 }]));
  image = uniqueName('img');
  stack = await startStack({
    host,
    images: { [image]: { url: images.url('tiny.qcow2') } },
    instanceTypes: [
      { instance_type: 'medium', vcpus: 2, memory_mb: 192, storage_mb: 768 },
      // More vCPUs and memory, but a smaller disk than tiny's: a resize to it would shrink the disk.
      { instance_type: 'narrow', vcpus: 2, memory_mb: 128, storage_mb: 128 },
      { instance_type: 'huge', vcpus: CAP + 1, memory_mb: 128, storage_mb: 512 },
    ],
    extra: { placement: { cpu_allocation_ratio: CAP, memory_allocation_ratio: 100, host_info_cache_ms: 0 } },
    h1: { reserved_vcpus: n * CAP - CAP },
  });
  // Placement counts the host's CPUs once a worker published them: ask for a refresh and wait.
  await stack.fetch('/v1/vms?refresh=true');
  const end = Date.now() + 60_000;
  while (!(await stack.redis.get(keys.hostInfo(stack.prefix, 'r1', 'h1')))) {
    if (Date.now() > end) throw new Error(`no host info published\n${stack.logs.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  for (const name of made) await hv?.undefine(name).catch(() => undefined);
  await images?.close();
  await hv?.close();
  await own?.stop();
});

type Json = Record<string, unknown> & { id: string; error: { message: string; details: unknown } };

async function post(path: string, body: unknown): Promise<{ status: number; body: Json }> {
  const r = await stack.fetch(path, { method: 'POST', body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as Json };
}

async function createVm(type = 'tiny'): Promise<string> {
  const name = uniqueName('rs');
  made.push(name);
  const r = await post('/v1/vms', { vm_name: name, region_name: 'r1', instance_type: type, image });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  expect((await waitJob(stack, r.body.id)).state).toBe('succeeded');
  // Its worker stops counting it as pending once BullMQ recorded the outcome, a moment after.
  await expect.poll(pendingVcpus).toBe(0);
  return name;
}

async function deleteVm(name: string): Promise<void> {
  const r = await stack.fetch(`/v1/vms/r1/${name}`, { method: 'DELETE' });
  expect((await waitJob(stack, ((await r.json()) as Json).id)).state).toBe('succeeded');
}

/** What the host says of the VM: vCPUs and max memory (virsh dominfo), state, and its disk's virtual size. */
async function onHost(name: string): Promise<{ cpus: number; maxMemKiB: number; state: string; diskBytes: number }> {
  const info = (await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'dominfo', name])).stdout;
  const disk = (await hv.ssh.run(['qemu-img', 'info', '-U', '--output=json', hv.paths(name).disk])).stdout;
  return {
    cpus: Number(/^CPU\(s\):\s+(\d+)/m.exec(info)?.[1]),
    maxMemKiB: Number(/^Max memory:\s+(\d+) KiB/m.exec(info)?.[1]),
    state: /^State:\s+(.+)$/m.exec(info)?.[1]?.trim() ?? '',
    diskBytes: (JSON.parse(disk) as { 'virtual-size': number })['virtual-size'],
  };
}

async function view(name: string): Promise<Record<string, unknown>> {
  return (await (await stack.fetch(`/v1/vms/r1/${name}`)).json()) as Record<string, unknown>;
}

/** Every job ever queued on the host (any state). */
async function jobCount(): Promise<number> {
  const q = new Queue(hostQueueName('r1', 'h1'), { connection: stack.redis, prefix: stack.prefix });
  const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
  await q.close();
  return Object.values(c).reduce((a, b) => a + b, 0);
}

async function pendingVcpus(): Promise<number> {
  return Number((await stack.redis.hget(keys.pendingTotals(stack.prefix, 'r1', 'h1'), 'vcpus')) ?? 0);
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, PROVISIONER_URL: stack.url, PROVISIONER_TOKEN: stack.tokens.write, PROVISIONER_REGION: 'r1' };
  const child = spawn(BIN, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((r) => child.on('close', (code) => r({ code, stdout, stderr })));
}

describe('resize', () => {
  it('resizes a running VM up: shut down (forced after timeout_ms), vCPUs, memory and disk on the host, the view, running again', async () => {
    const name = await createVm();
    expect(await onHost(name)).toEqual({ cpus: 1, maxMemKiB: 64 * 1024, state: 'running', diskBytes: 256 * MiB });
    // A blank disk has no guest to answer ACPI: the graceful shutdown ends in a power-off after 1.5 s.
    const r = await post(`/v1/vms/r1/${name}/resize`, { instance_type: 'medium', timeout_ms: 1500 });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ kind: 'resize', state: 'queued', steps: [{ name: 'stop' }, { name: 'resize' }, { name: 'start' }] });
    const job = await waitJob(stack, r.body.id);
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect((job.steps as Array<{ state: string }>).map((s) => s.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(job.result).toMatchObject({ instance_type: 'medium', vcpus: 2, memory_mb: 192, state: 'running', stopped: 'forced' });
    expect((job.result as { changed: string[] }).changed.sort()).toEqual(['disk', 'memory', 'vcpus']);
    expect(await onHost(name)).toEqual({ cpus: 2, maxMemKiB: 192 * 1024, state: 'running', diskBytes: 768 * MiB });
    expect(await view(name)).toMatchObject({ instance_type: 'medium', vcpus: 2, memory_mb: 192, state: 'running' });
    // Its extra room is counted by the inventory now, no longer as pending (once the outcome is recorded).
    await expect.poll(pendingVcpus).toBe(0);
    await deleteVm(name);
  });

  it('resizes a stopped VM with the CLI and leaves it stopped (stop and start skipped)', async () => {
    const name = await createVm();
    const stop = await post(`/v1/vms/r1/${name}/stop`, { force: true });
    expect((await waitJob(stack, stop.body.id)).state).toBe('succeeded');
    const r = await cli(['resize', name, '--type', 'medium', '--timeout-ms', '5000', '--wait', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const job = JSON.parse(r.stdout) as { state: string; steps: Array<{ name: string; state: string }>; result: unknown };
    expect(job.state).toBe('succeeded');
    expect(job.steps.map((s) => `${s.name}:${s.state}`)).toEqual(['stop:skipped', 'resize:succeeded', 'start:skipped']);
    expect(job.result).toMatchObject({ state: 'shut off' });
    expect(await onHost(name)).toEqual({ cpus: 2, maxMemKiB: 192 * 1024, state: 'shut off', diskBytes: 768 * MiB });
    expect(await view(name)).toMatchObject({ instance_type: 'medium', vcpus: 2, memory_mb: 192, state: 'shut off' });
    // The CLI checks its own arguments before sending anything.
    expect(await cli(['resize', name])).toMatchObject({ code: 2, stderr: expect.stringContaining('--type') });
    await deleteVm(name);
  });

  it('resizes a paused VM (virsh suspend) as a running one: resumed to shut down, changed, running again', async () => {
    const name = await createVm();
    await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'suspend', name]);
    expect((await onHost(name)).state).toBe('paused');
    const r = await post(`/v1/vms/r1/${name}/resize`, { instance_type: 'medium', timeout_ms: 1000 });
    expect(r.status).toBe(202);
    const job = await waitJob(stack, r.body.id);
    expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
    expect((job.steps as Array<{ name: string; state: string }>).map((s) => `${s.name}:${s.state}`)).toEqual([
      'stop:succeeded',
      'resize:succeeded',
      'start:succeeded',
    ]);
    expect(job.result).toMatchObject({ state: 'running', stopped: 'forced' });
    expect(await onHost(name)).toEqual({ cpus: 2, maxMemKiB: 192 * 1024, state: 'running', diskBytes: 768 * MiB });
    await deleteVm(name);
  });

  it('refuses a smaller disk (409), an unknown type (422 listing the region’s types) and the same type, with nothing queued', async () => {
    const name = await createVm();
    const before = await jobCount();
    const shrink = await post(`/v1/vms/r1/${name}/resize`, { instance_type: 'narrow' });
    expect(shrink.status).toBe(409);
    expect(shrink.body.error.message).toContain('disks only grow');
    expect(shrink.body.error.details).toMatchObject({ reason: 'shrink', storage_mb: 128, current_storage_mb: 256 });
    const unknown = await post(`/v1/vms/r1/${name}/resize`, { instance_type: 'gigantic' });
    expect(unknown.status).toBe(422);
    for (const t of ['tiny', 'small', 'medium', 'narrow', 'huge']) expect(unknown.body.error.message).toContain(t);
    const same = await post(`/v1/vms/r1/${name}/resize`, { instance_type: 'tiny' });
    expect(same.status).toBe(409);
    expect(await jobCount()).toBe(before);
    expect(await pendingVcpus()).toBe(0);
    expect(await onHost(name)).toMatchObject({ cpus: 1, maxMemKiB: 64 * 1024, diskBytes: 256 * MiB });
    await deleteVm(name);
  });

  it('answers 409 with the reason when the VM’s host has no room for the extra vCPUs, nothing queued', async () => {
    const name = await createVm();
    const before = await jobCount();
    const r = await post(`/v1/vms/r1/${name}/resize`, { instance_type: 'huge' });
    expect(r.status).toBe(409);
    expect(r.body.error.message).toContain(`needs ${CAP} more vCPUs, ${CAP - 1} of ${CAP} free`);
    expect(r.body.error.details).toMatchObject({ reason: 'capacity', host: 'h1', instance_type: 'huge' });
    expect(await jobCount()).toBe(before);
    expect(await pendingVcpus()).toBe(0);
    expect(await onHost(name)).toMatchObject({ cpus: 1 });
    await deleteVm(name);
  });

  it('a resize and creates fired together never take more vCPUs than the host’s cap', async () => {
    const name = await createVm();
    // 1 of CAP vCPUs used; the resize wants 1 more, the creates 1 each: together one more than is free.
    const creates = Array.from({ length: CAP - 1 }, () => uniqueName('rs'));
    made.push(...creates);
    const answers = await Promise.all([
      post(`/v1/vms/r1/${name}/resize`, { instance_type: 'medium', force: true }),
      ...creates.map((c) => post('/v1/vms', { vm_name: c, region_name: 'r1', instance_type: 'tiny', image })),
    ]);
    const accepted = answers.filter((a) => a.status === 202);
    const refused = answers.filter((a) => a.status === 409);
    expect(accepted.length + refused.length).toBe(answers.length);
    expect(refused).toHaveLength(1);
    for (const a of accepted) expect((await waitJob(stack, a.body.id)).state).toBe('succeeded');
    await expect.poll(pendingVcpus).toBe(0);
    // What the host runs: every domain of this libvirt, by its own count of vCPUs.
    let total = 0;
    for (const d of await hv.listDomains()) total += d.vcpus;
    expect(total).toBeLessThanOrEqual(CAP);
    expect(total).toBe(CAP);
    for (const vm of [name, ...creates]) if ((await view(vm)).vm_name) await deleteVm(vm);
  });

  it('cancels a running resize during its graceful stop: the wait is ended, the job canceled, the VM runs on unchanged', async () => {
    const name = await createVm();
    const r = await post(`/v1/vms/r1/${name}/resize`, { instance_type: 'medium', timeout_ms: 20_000 });
    expect(r.status).toBe(202);
    // The blank guest ignores the shutdown request: the stop step counts down for 20 s.
    await expect
      .poll(async () => ((await (await stack.fetch(`/v1/jobs/${r.body.id}`)).json()) as { step: string | null }).step, { timeout: 15_000 })
      .toBe('stop');
    const c = await stack.fetch(`/v1/jobs/${r.body.id}/cancel`, { method: 'POST' });
    expect(c.status).toBe(202);
    const job = await waitJob(stack, r.body.id);
    expect(job.state).toBe('canceled');
    await expect.poll(async () => (await onHost(name)).state, { timeout: 15_000 }).toBe('running');
    expect(await onHost(name)).toEqual({ cpus: 1, maxMemKiB: 64 * 1024, state: 'running', diskBytes: 256 * MiB });
    await expect.poll(pendingVcpus).toBe(0);
    await deleteVm(name);
  });

  it('cancels a resize while it waits its turn: it never runs, its room is given back', async () => {
    const name = await createVm();
    // A graceful stop of a blank disk waits its whole timeout: the resize queues behind it.
    const stop = await post(`/v1/vms/r1/${name}/stop`, { timeout_ms: 4000 });
    const r = await post(`/v1/vms/r1/${name}/resize`, { instance_type: 'medium' });
    expect(r.status).toBe(202);
    expect(await pendingVcpus()).toBe(1);
    const c = await stack.fetch(`/v1/jobs/${r.body.id}/cancel`, { method: 'POST' });
    // 200 when it was still queued; 202 when a worker had already taken it to check its turn (the cancel is
    // announced and ends it there, before any step).
    expect([200, 202]).toContain(c.status);
    const job = await waitJob(stack, r.body.id);
    expect(job.state).toBe('canceled');
    expect(await pendingVcpus()).toBe(0);
    expect((await waitJob(stack, stop.body.id)).state).toBe('succeeded');
    expect((job.steps as Array<{ state: string }>).every((s) => s.state === 'pending')).toBe(true);
    expect(await onHost(name)).toEqual({ cpus: 1, maxMemKiB: 64 * 1024, state: 'shut off', diskBytes: 256 * MiB });
    expect(await view(name)).toMatchObject({ instance_type: 'tiny', vcpus: 1 });
    await deleteVm(name);
  });
});
