/**
 * Metrics and logs end to end (real API and worker processes, real Redis, the loopback host): both
 * `/metrics` parse as Prometheus text and their job counters move when a job runs; one request id goes
 * from the HTTP request through the job (its view and every worker line about it); tokens never reach
 * a log line.
 */
import { randomBytes } from 'node:crypto';
import { hostQueueName } from '@provisioner/contracts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Families, parseMetrics, sample, typeOf } from '../support/prom.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
let stack: Stack;
let images: ImageServer;
let image: string;
const made: string[] = [];

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 16 }]));
  image = uniqueName('tiny');
  stack = await startStack({ host, images: { [image]: { url: images.url('tiny.qcow2') } } });
});

afterAll(async () => {
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await stack?.stop();
  await images?.close();
  await hv.close();
});

/** The worker's health port, from its 'worker ready' line. */
function workerPort(): number {
  const line = stack.logs.find((l) => l.startsWith('[worker0] ') && l.includes('"worker ready"'));
  return (JSON.parse(line?.slice('[worker0] '.length) ?? '{}') as { port: number }).port;
}

async function apiMetrics(): Promise<Families> {
  const r = await stack.fetch('/metrics', { token: stack.tokens.read });
  expect(r.status).toBe(200);
  return parseMetrics(await r.text());
}

async function workerMetrics(): Promise<Families> {
  const r = await fetch(`http://127.0.0.1:${workerPort()}/metrics`, { headers: { authorization: `Bearer ${stack.tokens.read}` } });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
  return parseMetrics(await r.text());
}

/** The JSON log lines of one process (`api`, `worker0`). */
function logLines(label: string): Array<Record<string, unknown>> {
  return stack.logs
    .filter((l) => l.startsWith(`[${label}] {`))
    .map((l) => {
      try {
        return JSON.parse(l.slice(label.length + 3)) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}

const delta = (a: Families, b: Families, name: string, labels: Record<string, string> = {}) => sample(b, name, labels) - sample(a, name, labels);

describe('metrics and logs of a real job', () => {
  it('moves the job counters of both /metrics, and carries one request id from the request to the worker lines', async () => {
    const queue = hostQueueName('r1', 'h1');
    const api0 = await apiMetrics();
    const w0 = await workerMetrics();
    // The refused token is never logged, nor are the configured ones.
    const wrongToken = `wrong-${randomBytes(12).toString('hex')}`;
    expect((await stack.fetch('/metrics', { token: wrongToken })).status).toBe(401);
    expect((await fetch(`${stack.url}/metrics`)).status).toBe(401);
    // The worker's /metrics takes a read token too; its /health stays open for orchestrators.
    const worker = `http://127.0.0.1:${workerPort()}`;
    expect((await fetch(`${worker}/metrics`)).status).toBe(401);
    expect((await fetch(`${worker}/metrics`, { headers: { authorization: `Bearer ${wrongToken}` } })).status).toBe(401);
    expect((await fetch(`${worker}/metrics`, { headers: { authorization: stack.tokens.admin } })).status).toBe(200);
    expect((await fetch(`${worker}/health`)).status).toBe(200);

    const name = uniqueName('obs');
    made.push(name);
    const requestId = `obs-${randomBytes(8).toString('hex')}`;
    const res = await stack.fetch('/v1/vms', {
      method: 'POST',
      headers: { 'x-request-id': requestId },
      body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image }),
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-request-id')).toBe(requestId);
    const created = (await res.json()) as { id: string; request_id: string };
    expect(created.request_id).toBe(requestId);
    const done = await waitJob(stack, created.id);
    expect(done.state).toBe('succeeded');
    expect(done.request_id).toBe(requestId);

    // A client-chosen id that is not a sane token is replaced, not echoed.
    const bad = await stack.fetch(`/v1/jobs/${created.id}`, { headers: { 'x-request-id': 'a b\tc' } });
    expect(bad.headers.get('x-request-id')).toMatch(/^req_[a-f0-9]{32}$/);

    const del = await stack.fetch(`/v1/vms/r1/${name}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    expect((await waitJob(stack, ((await del.json()) as { id: string }).id)).state).toBe('succeeded');

    // API: parses, counts the submissions and the request by its route pattern, reads the queue.
    const api1 = await apiMetrics();
    expect(typeOf(api1, 'provisioner_jobs_submitted_total')).toBe('COUNTER');
    expect(delta(api0, api1, 'provisioner_jobs_submitted_total', { kind: 'create' })).toBe(1);
    expect(delta(api0, api1, 'provisioner_jobs_submitted_total', { kind: 'delete' })).toBe(1);
    expect(delta(api0, api1, 'provisioner_http_requests_total', { method: 'POST', route: '/v1/vms', status: '202' })).toBe(1);
    expect(delta(api0, api1, 'provisioner_http_requests_total', { method: 'GET', route: '/metrics', status: '401' })).toBe(2);
    expect(delta(api0, api1, 'provisioner_http_request_duration_seconds', { method: 'DELETE', route: '/v1/vms/:region/:name' })).toBe(1);
    expect(delta(api0, api1, 'provisioner_queue_jobs', { queue, state: 'completed' })).toBeGreaterThanOrEqual(2);
    expect(sample(api1, 'provisioner_queue_jobs', { queue, state: 'active' })).toBe(0);

    // Worker: jobs by outcome, job, step and queue-wait histograms, SSH use of the host.
    const w1 = await workerMetrics();
    expect(typeOf(w1, 'provisioner_worker_jobs_total')).toBe('COUNTER');
    expect(typeOf(w1, 'provisioner_worker_step_duration_seconds')).toBe('HISTOGRAM');
    expect(delta(w0, w1, 'provisioner_worker_jobs_total', { kind: 'create', outcome: 'succeeded' })).toBe(1);
    expect(delta(w0, w1, 'provisioner_worker_jobs_total', { kind: 'delete', outcome: 'succeeded' })).toBe(1);
    expect(delta(w0, w1, 'provisioner_worker_job_duration_seconds', { host: 'r1/h1', kind: 'create', outcome: 'succeeded' })).toBe(1);
    // SSH command latency by host and command: a create's host work (disk, seed, define, start) is one
    // command, create-vm (each step's own duration is the step histogram's, below); a delete undefines.
    expect(typeOf(w1, 'provisioner_ssh_command_duration_seconds')).toBe('HISTOGRAM');
    for (const command of ['create-vm', 'undefine']) {
      expect(delta(w0, w1, 'provisioner_ssh_command_duration_seconds', { host: 'r1/h1', command, outcome: 'ok' }), command).toBeGreaterThanOrEqual(1);
    }
    // The worker's check of the host at start-up is a command of its own; nothing it ran is `other`.
    expect(sample(w1, 'provisioner_ssh_command_duration_seconds', { host: 'r1/h1', command: 'probe', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sample(w1, 'provisioner_ssh_command_duration_seconds', { host: 'r1/h1', command: 'other' })).toBe(0);
    for (const step of ['fetch-image', 'create-disk', 'create-seed', 'define', 'start']) {
      expect(delta(w0, w1, 'provisioner_worker_step_duration_seconds', { kind: 'create', step, outcome: 'succeeded' }), step).toBe(1);
    }
    expect(delta(w0, w1, 'provisioner_worker_queue_wait_seconds', { queue, kind: 'create' })).toBe(1);
    expect(delta(w0, w1, 'provisioner_ssh_channels_total', { host: 'r1/h1' })).toBeGreaterThanOrEqual(5);
    expect(sample(w1, 'provisioner_ssh_connections_total', { host: 'r1/h1' })).toBeGreaterThanOrEqual(1);
    expect(sample(w1, 'provisioner_ssh_connected', { host: 'r1/h1' })).toBe(1);
    // Every channel is given back: a command the worker runs after the job (its inventory update) may hold one
    // for a moment, a leaked one forever.
    let inUse = sample(w1, 'provisioner_ssh_channels_in_use', { host: 'r1/h1' });
    for (let end = Date.now() + 10_000; inUse !== 0 && Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 100));
      inUse = sample(await workerMetrics(), 'provisioner_ssh_channels_in_use', { host: 'r1/h1' });
    }
    expect(inUse).toBe(0);
    expect(typeOf(w1, 'provisioner_webhook_deliveries_total')).toBe('COUNTER');

    // Logs: the API's line of the request and every worker line about the job carry the request id.
    const apiLine = logLines('api').find((l) => l.msg === 'request' && l.method === 'POST' && l.path === '/v1/vms');
    expect(apiLine?.request_id).toBe(requestId);
    const jobLines = logLines('worker0').filter((l) => l.job_id === created.id);
    expect(jobLines.map((l) => l.msg)).toEqual(expect.arrayContaining(['job started', 'job succeeded']));
    for (const l of jobLines) expect(l.request_id, String(l.msg)).toBe(requestId);
    const all = stack.logs.join('\n');
    for (const secret of [wrongToken, stack.tokens.admin, stack.tokens.read, stack.tokens.write]) expect(all).not.toContain(secret);
  });
});
