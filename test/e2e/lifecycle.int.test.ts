/**
 * The product end to end: real HTTP API process, real worker process, real Redis, real loopback host.
 */
import { existsSync } from 'node:fs';
import { hostQueueName } from '@provisioner/contracts';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { parseSse } from '../support/net.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
let stack: Stack;
let images: ImageServer;
const hv = makeHypervisor(host);
const made: string[] = [];

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 64 }]));
  stack = await startStack({ host, images: { [uniqueName('tiny')]: { url: images.url('tiny.qcow2') } } });
});

afterAll(async () => {
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await stack?.stop();
  await images?.close();
  await hv.close();
});

async function imageName(): Promise<string> {
  const r = await stack.fetch('/v1/images');
  const body = (await r.json()) as { images: Array<{ name: string }> };
  return body.images[0]?.name ?? '';
}

/** Reads a job's SSE stream to its end and returns the events. */
async function readEvents(id: string): Promise<Array<{ event: string; data: Record<string, unknown> }>> {
  const r = await stack.fetch(`/v1/jobs/${id}/events`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toContain('text/event-stream');
  return parseSse(await r.text());
}

describe('lifecycle through the new routes', () => {
  it('create → running with tags → retag → stop → start → delete → gone, progress never backwards, SSE tells the same story', async () => {
    const name = uniqueName('e2e');
    made.push(name);
    const userData = Buffer.from('#cloud-config\npackages: [htop]\n').toString('base64');
    const res = await stack.fetch('/v1/vms', {
      method: 'POST',
      body: JSON.stringify({
        vm_name: name,
        region_name: 'r1',
        instance_type: 'tiny',
        image: await imageName(),
        tags: { owner: 'alice' },
        user_data: userData,
      }),
    });
    expect(res.status).toBe(202);
    const job = (await res.json()) as { id: string; state: string; links: { self: string } };
    expect(res.headers.get('location')).toBe(`/v1/jobs/${job.id}`);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(job.state).toBe('queued');
    expect(JSON.stringify(job)).not.toContain(userData);

    const events = await readEvents(job.id);
    const last = events.at(-1)?.data as { state: string; progress: number; steps: Array<{ state: string }> };
    expect(last.state).toBe('succeeded');
    expect(last.progress).toBe(100);
    expect(last.steps.every((s) => s.state === 'succeeded')).toBe(true);
    const progress = events.map((e) => Number(e.data.progress));
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const stepsSeen = new Set(events.map((e) => e.data.step).filter(Boolean));
    expect(stepsSeen.size).toBeGreaterThanOrEqual(3);

    const done = await waitJob(stack, job.id);
    expect(done).toMatchObject({ state: 'succeeded', kind: 'create', target: { region: 'r1', vm_name: name, host: 'h1' }, error: null });
    expect(JSON.stringify(done)).not.toContain('user_data');
    // The job's own log (what the dashboard shows): each step with its duration, no user-data.
    const queue = new Queue(hostQueueName('r1', 'h1'), { connection: stack.redis, prefix: stack.prefix });
    const { logs } = await queue.getJobLogs(job.id);
    await queue.close();
    expect(logs.some((l) => /attempt 1 of \d+ started on r1\/h1/.test(l))).toBe(true);
    for (const step of ['fetch-image', 'create-disk', 'create-seed', 'define', 'start']) {
      expect(logs.some((l) => l.includes(`step ${step} started`))).toBe(true);
      expect(logs.some((l) => new RegExp(`step ${step} succeeded in \\d+ ms`).test(l))).toBe(true);
    }
    expect(logs.join('\n')).not.toContain(userData);

    const vm = async () => {
      const r = await stack.fetch(`/v1/vms/r1/${name}`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    expect((await vm()).body).toMatchObject({ vm_name: name, state: 'running', tags: { owner: 'alice' }, host: 'h1' });
    const listed = (await (await stack.fetch('/v1/vms?owner=alice')).json()) as { vms: Array<{ vm_name: string }> };
    expect(listed.vms.map((v) => v.vm_name)).toContain(name);

    const run = async (method: string, path: string, body?: unknown) => {
      const r = await stack.fetch(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
      expect(r.status).toBe(202);
      const j = (await r.json()) as { id: string };
      const end = await waitJob(stack, j.id);
      expect(end.state).toBe('succeeded');
      return end;
    };
    await run('PUT', `/v1/vms/r1/${name}/tags`, { tags: { owner: 'bob', env: 'test' } });
    expect((await vm()).body).toMatchObject({ tags: { owner: 'bob', env: 'test' } });
    await run('POST', `/v1/vms/r1/${name}/stop`, { timeout_ms: 1000 });
    expect((await vm()).body).toMatchObject({ state: 'shut off', dom_id: null });
    await run('POST', `/v1/vms/r1/${name}/start`);
    expect((await vm()).body).toMatchObject({ state: 'running' });
    await run('POST', `/v1/vms/r1/${name}/reboot`, {});
    await run('DELETE', `/v1/vms/r1/${name}`);
    expect((await vm()).status).toBe(404);
    const paths = hv.paths(name);
    expect(existsSync(paths.disk)).toBe(false);
    expect(existsSync(paths.seed)).toBe(false);
  });
});

describe('a VM paused on its host (virsh suspend, or libvirt pausing it on an I/O error)', () => {
  it('start resumes it and says so; stop and reboot resume it before the graceful shutdown', async () => {
    const name = uniqueName('e2e');
    made.push(name);
    const run = async (method: string, path: string, body?: unknown) => {
      const r = await stack.fetch(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
      expect(r.status).toBe(202);
      const end = await waitJob(stack, ((await r.json()) as { id: string }).id);
      expect(end).toMatchObject({ state: 'succeeded', error: null });
      return end;
    };
    const suspend = async () => {
      await hv.ssh.run(['virsh', '-q', '-c', host.libvirt_uri, 'suspend', name]);
      expect(await hv.domainState(name)).toBe('paused');
    };
    const listed = async () => {
      const body = (await (await stack.fetch('/v1/vms?limit=500')).json()) as { vms: Array<{ vm_name: string; state: string }> };
      return body.vms.find((v) => v.vm_name === name)?.state;
    };
    await run('POST', '/v1/vms', { vm_name: name, region_name: 'r1', instance_type: 'tiny', image: await imageName() });

    await suspend();
    const started = await run('POST', `/v1/vms/r1/${name}/start`);
    expect(started.result).toMatchObject({ vm_name: name, state: 'running', changed: true, started: 'resumed' });
    expect(await hv.domainState(name)).toBe('running');
    expect(await listed()).toBe('running');
    // Started again: nothing to do.
    expect((await run('POST', `/v1/vms/r1/${name}/start`)).result).toMatchObject({ changed: false, started: 'already' });

    // Reboot: resumed, shut down (this blank guest ignores ACPI: forced after the timeout) and started.
    await suspend();
    expect((await run('POST', `/v1/vms/r1/${name}/reboot`, { timeout_ms: 1000 })).result).toMatchObject({ state: 'running', stopped: 'forced' });
    expect(await hv.domainState(name)).toBe('running');

    await suspend();
    expect((await run('POST', `/v1/vms/r1/${name}/stop`, { timeout_ms: 1000 })).result).toMatchObject({ state: 'shut off', stopped: 'forced' });
    expect(await hv.domainState(name)).toBe('shut off');
    expect(await listed()).toBe('shut off');
    await run('DELETE', `/v1/vms/r1/${name}`);
  });
});

describe('the chat bot through the legacy routes', () => {
  it('get-images, regions, create, list, edit-tags, stop, start, delete (twice)', async () => {
    const name = uniqueName('bot');
    made.push(name);
    const raw = { authorization: stack.tokens.admin };
    const images = (await (await fetch(`${stack.url}/v1/get-images`)).json()) as { images: string[] };
    expect(images.images.length).toBeGreaterThan(0);
    const regions = (await (await fetch(`${stack.url}/v1/regions`, { headers: raw })).json()) as Array<Record<string, unknown>>;
    expect(regions[0]).toMatchObject({ region_name: 'r1', enabled: true });
    expect(regions[0]).not.toHaveProperty('host');
    const post = (path: string, body: unknown, method = 'POST') =>
      fetch(`${stack.url}${path}`, { method, headers: { ...raw, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const created = await post('/v1/create', {
      vm_name: name,
      tags: { owner: 'U123', description: 'from the bot' },
      user_data: Buffer.from('#cloud-config\n{}\n').toString('base64'),
      image: images.images[0],
      region_name: 'r1',
      instance_type: 'tiny',
    });
    expect(await created.json()).toEqual({ message: 'Success' });
    expect(created.status).toBe(200);

    const list = async () => (await (await fetch(`${stack.url}/v1/list`, { headers: raw })).json()) as Array<Record<string, unknown>>;
    const mine = (await list()).find((v) => v.name === name);
    expect(mine).toMatchObject({ name, region_name: 'r1', state: 'running', tags: { owner: 'U123', description: 'from the bot' } });
    expect(mine?.dom_id).toMatch(/^\d+$/);

    expect((await post('/v1/edit-tags', { vm_name: name, region_name: 'r1', tags: { owner: 'U123', description: 'edited' } })).status).toBe(200);
    expect((await list()).find((v) => v.name === name)?.tags).toEqual({ owner: 'U123', description: 'edited' });
    expect((await post('/v1/stop', { vm_name: name, region_name: 'r1' })).status).toBe(200);
    expect((await list()).find((v) => v.name === name)).toMatchObject({ state: 'shut off', dom_id: '-' });
    expect((await post('/v1/start', { vm_name: name, region_name: 'r1' })).status).toBe(200);
    const del = await post('/v1/delete', { vm_name: name, region_name: 'r1' }, 'DELETE');
    expect(await del.json()).toEqual({ message: 'Success' });
    expect((await post('/v1/delete', { vm_name: name, region_name: 'r1' }, 'DELETE')).status).toBe(200);
    expect((await list()).some((v) => v.name === name)).toBe(false);
  });

  it('answers a wrong token with 401 and detail, as the old service did', async () => {
    const r = await fetch(`${stack.url}/v1/list`, { headers: { authorization: 'wrong-token-wrong-token' } });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { detail: string }).detail).toBe('Invalid or missing API Token');
    expect((await fetch(`${stack.url}/health`)).status).toBe(200);
  });
});
