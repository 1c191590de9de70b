/**
 * `wait_until: ready` through the real stack with blank-disk VMs (no OS: their guest is never ready): the
 * wait times out GUEST_NOT_READY and keeps the VM; while a create waits, other creates on the same host
 * (one operation slot) still run; a later operation on the VM ends the wait and runs; a cancel during the
 * wait ends the job canceled and keeps the VM. A real guest becoming ready is test/guest/boot.int.test.ts.
 */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../node_modules/.bin/provisioner');
const hv = makeHypervisor(host);
const made: string[] = [];
let stack: Stack;
let images: ImageServer;

type Step = { name: string; state: string; detail?: string };
type JobBody = {
  id: string;
  state: string;
  step: string | null;
  steps: Step[];
  attempts: number;
  error: { code: string; message: string; retryable: boolean } | null;
};

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'blank.qcow2', sizeMiB: 16 }]));
  // One operation at a time on the host: a create that held its slot while waiting would block every other.
  stack = await startStack({ host, maxConcurrent: 1, images: { blank: { url: images.url('blank.qcow2') } } });
});

afterAll(async () => {
  await stack?.stop();
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await images?.close();
  await hv.close();
});

async function submit(method: string, path: string, body?: unknown): Promise<JobBody> {
  const r = await stack.fetch(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  expect(r.status, `${method} ${path}: ${r.status}`).toBe(202);
  return (await r.json()) as JobBody;
}

const job = async (id: string) => (await (await stack.fetch(`/v1/jobs/${id}`)).json()) as JobBody;

function createBody(name: string, extra: Record<string, unknown> = {}) {
  made.push(name);
  return { vm_name: name, region_name: 'r1', instance_type: 'tiny', image: 'blank', ...extra };
}

/** Waits until the job is in step wait-ready (its VM made and started) and has looked at the guest; returns that view. */
async function waitingReady(id: string, ms = 60_000): Promise<JobBody> {
  const end = Date.now() + ms;
  for (;;) {
    const j = await job(id);
    if (j.step === 'wait-ready' && j.steps.find((s) => s.name === 'wait-ready')?.detail?.startsWith('waiting for cloud-init')) return j;
    if (['succeeded', 'failed', 'canceled'].includes(j.state) || Date.now() > end)
      throw new Error(`job ${id} did not reach wait-ready: ${JSON.stringify(j)}\n${stack.logs.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('create with wait_until: ready', () => {
  it('refuses a timeout out of range, and the legacy create stays as it was', async () => {
    for (const ready_timeout_s of [0, 3601, 1.5]) {
      const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify(createBody(uniqueName('wr'), { wait_until: 'ready', ready_timeout_s })) });
      expect(r.status).toBe(422);
    }
    const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify(createBody(uniqueName('wr'), { wait_until: 'booted' })) });
    expect(r.status).toBe(422);
  });

  it('waits in step wait-ready without holding the host’s slot, then times out GUEST_NOT_READY and keeps the VM', async () => {
    const name = uniqueName('wrt');
    const created = await submit('POST', '/v1/vms', createBody(name, { wait_until: 'ready', ready_timeout_s: 20 }));
    expect(created.steps.map((s) => s.name)).toEqual(['fetch-image', 'create-disk', 'create-seed', 'define', 'start', 'wait-ready']);
    const waiting = await waitingReady(created.id);
    expect(waiting.state).toBe('running');
    expect(waiting.steps.slice(0, 5).every((s) => s.state === 'succeeded')).toBe(true);
    // No agent, no console output, no NIC on this host: what it waits for is cloud-init's state.
    expect(waiting.steps.at(-1)?.detail).toBe('waiting for cloud-init (unknown); agent absent; no NIC');
    // Listed (and counted by placement) while it waits.
    expect((await stack.fetch(`/v1/vms/r1/${name}`)).status).toBe(200);

    // Another create on the same host (one operation at a time) runs to its end meanwhile.
    const other = await submit('POST', '/v1/vms', createBody(uniqueName('wro')));
    expect((await waitJob(stack, other.id, 60_000)).state).toBe('succeeded');
    expect(await job(created.id)).toMatchObject({ state: 'running', step: 'wait-ready' });
    const running = (await (await stack.fetch('/v1/jobs?state=running')).json()) as { jobs: Array<{ id: string }> };
    expect(running.jobs.map((j) => j.id)).toContain(created.id);

    const done = (await waitJob(stack, created.id, 60_000)) as unknown as JobBody;
    expect(done.state).toBe('failed');
    expect(done.error).toMatchObject({ code: 'GUEST_NOT_READY', retryable: false });
    expect(done.error?.message).toContain('not ready within 20 s');
    expect(done.error?.message).toContain(`GET /v1/vms/r1/${name}/console`);
    // One attempt: the looks at the guest are no attempts, and a guest that is not ready is not retried.
    expect(done.attempts).toBe(1);
    expect(done.steps.at(-1)).toMatchObject({ name: 'wait-ready', state: 'failed' });
    // The VM stays, running, and listed; its name stays taken.
    expect((await hv.getDomain(name)).state).toBe('running');
    expect((await stack.fetch(`/v1/vms/r1/${name}`)).status).toBe(200);
    expect((await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify(createBody(name)) })).status).toBe(409);
  });

  it('a VM paused while its create waits keeps the wait going, shown as paused; resumed, the wait goes on', async () => {
    const name = uniqueName('wrp');
    const created = await submit('POST', '/v1/vms', createBody(name, { wait_until: 'ready', ready_timeout_s: 120 }));
    await waitingReady(created.id);
    const detail = async () => (await job(created.id)).steps.find((s) => s.name === 'wait-ready')?.detail;
    const until = async (want: string) => {
      const end = Date.now() + 30_000;
      for (;;) {
        const j = await job(created.id);
        expect(j, JSON.stringify(j)).toMatchObject({ state: 'running', step: 'wait-ready' });
        if ((await detail()) === want) return;
        if (Date.now() > end) throw new Error(`the wait never said '${want}': ${JSON.stringify(j)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'suspend', name]);
    await until('waiting for the VM to run again: it is paused');
    await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'resume', name]);
    await until('waiting for cloud-init (unknown); agent absent; no NIC');
    const r = await stack.fetch(`/v1/jobs/${created.id}/cancel`, { method: 'POST' });
    expect([200, 202]).toContain(r.status);
    expect((await waitJob(stack, created.id, 30_000)).state).toBe('canceled');
  });

  it('a later operation on the VM ends the wait: the create fails naming it, and it runs', async () => {
    const name = uniqueName('wrs');
    const created = await submit('POST', '/v1/vms', createBody(name, { wait_until: 'ready' }));
    await waitingReady(created.id);
    const stop = await submit('POST', `/v1/vms/r1/${name}/stop`, { force: true });
    const done = (await waitJob(stack, created.id, 30_000)) as unknown as JobBody;
    expect(done.state).toBe('failed');
    expect(done.error?.code).toBe('GUEST_NOT_READY');
    expect(done.error?.message).toContain(`superseded by job ${stop.id}`);
    expect((await waitJob(stack, stop.id, 30_000)).state).toBe('succeeded');
    expect((await hv.getDomain(name)).state).toBe('shut off');
  });

  it('cancel during the wait ends the job canceled and keeps the VM running', async () => {
    const name = uniqueName('wrc');
    const created = await submit('POST', '/v1/vms', createBody(name, { wait_until: 'ready' }));
    await waitingReady(created.id);
    const r = await stack.fetch(`/v1/jobs/${created.id}/cancel`, { method: 'POST' });
    // 200 when it was canceled between looks; 202 when a worker was looking at the guest just then.
    expect([200, 202]).toContain(r.status);
    const done = await waitJob(stack, created.id, 30_000);
    expect(done).toMatchObject({ state: 'canceled', error: { code: 'CANCELED' } });
    expect((await hv.getDomain(name)).state).toBe('running');
    expect((await stack.fetch(`/v1/vms/r1/${name}`)).status).toBe(200);
    // The name stays the VM's, and the VM's next operation runs.
    expect((await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify(createBody(name)) })).status).toBe(409);
    const del = await submit('DELETE', `/v1/vms/r1/${name}`);
    expect((await waitJob(stack, del.id, 30_000)).state).toBe('succeeded');
  });

  it('the CLI’s create --wait-ready asks for it and follows the job through wait-ready to its end', async () => {
    const name = uniqueName('wrcli');
    made.push(name);
    const env = { ...process.env, PROVISIONER_URL: stack.url, PROVISIONER_TOKEN: stack.tokens.write, PROVISIONER_REGION: 'r1' };
    const child = spawn(BIN, ['create', name, '--type', 'tiny', '--image', 'blank', '--wait-ready', '--ready-timeout', '3'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise((r) => child.on('close', r));
    expect(code, stderr).toBe(1);
    expect(stderr).toMatch(/ running step=wait-ready /);
    expect(stderr).toContain(`error: create r1/${name} failed`);
    expect(stderr).toContain('GUEST_NOT_READY: the guest was not ready within 3 s');
    expect((await hv.getDomain(name)).state).toBe('running');
  });
});
