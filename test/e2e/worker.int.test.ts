/**
 * The worker process: its own /health, and a graceful SIGTERM that lets the running job finish, takes
 * no new job, and leaves queued work for the next worker.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
const made: string[] = [];
let stack: Stack;
let images: ImageServer;
const image = uniqueName('slow');

beforeAll(async () => {
  // 48 MiB at 12 MiB/s: the download step runs for about 4 s, long enough to signal the worker mid-job.
  images = await startImageServer(makeImages([{ name: 'slow.qcow2', sizeMiB: 48 }]), { bytesPerSecond: 12 * 1024 * 1024 });
  stack = await startStack({ host, images: { [image]: { url: images.url('slow.qcow2') } } });
});

afterAll(async () => {
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await stack?.stop();
  await images?.close();
  await hv.close();
});

const readyPort = (label: string): number => {
  const line = stack.logs.find((l) => l.startsWith(`[${label}] `) && l.includes('"worker ready"'));
  return (JSON.parse(line?.slice(label.length + 3) ?? '{}') as { port: number }).port;
};

async function jobState(id: string): Promise<{ state: string; step: string | null }> {
  return (await (await stack.fetch(`/v1/jobs/${id}`)).json()) as { state: string; step: string | null };
}

describe('worker process', () => {
  it('serves /health with its queues, on the configured address', async () => {
    const r = await fetch(`http://127.0.0.1:${readyPort('worker0')}/health`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'healthy', queues: ['ops.r1.h1'] });
    const line = stack.logs.find((l) => l.startsWith('[worker0] ') && l.includes('"worker ready"')) ?? '';
    expect(JSON.parse(line.slice('[worker0] '.length))).toMatchObject({ address: '127.0.0.1' });
  });

  it('on SIGTERM finishes the running job, exits 0, and leaves queued work to the next worker', async () => {
    const name = uniqueName('term');
    made.push(name);
    const res = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image }) });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const end = Date.now() + 30_000;
    while ((await jobState(id)).step !== 'fetch-image' && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(await jobState(id)).toMatchObject({ state: 'running', step: 'fetch-image' });

    const worker = stack.workers[0];
    if (!worker) throw new Error('no worker');
    const exited = new Promise<number | null>((r) => worker.once('exit', (code) => r(code)));
    worker.kill('SIGTERM');
    // Submitted after the signal: the stopping worker must not take it.
    const stop = await stack.fetch(`/v1/vms/r1/${name}/stop`, { method: 'POST', body: JSON.stringify({ force: true }) });
    expect(stop.status).toBe(202);
    const { id: stopId } = (await stop.json()) as { id: string };

    expect(await exited).toBe(0);
    expect(stack.logs.some((l) => l.startsWith('[worker0]') && l.includes('"msg":"stopped"'))).toBe(true);
    expect(await jobState(id)).toMatchObject({ state: 'succeeded' });
    expect(await jobState(stopId)).toMatchObject({ state: 'queued' });
    expect((await hv.getDomain(name)).state).toBe('running');

    await stack.startWorker();
    expect(await waitJob(stack, stopId)).toMatchObject({ state: 'succeeded' });
    expect((await hv.getDomain(name)).state).toBe('shut off');
  }, 90_000);
});
