import { hostQueueName, newWebhookSecret } from '@provisioner/contracts';
import { keys } from '@provisioner/store/testing';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { medianMax, replaceMarked, runLine } from '../support/chaos-report.ts';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const COUNT = Math.max(1, Number(process.env.CHAOS_COUNT ?? 2));
/** Milliseconds between BullMQ announcing the end and the SIGKILL, by run. */
const DELAYS = [0, 1, 2, 4, 8, 16];
const TOKEN_SECRET = newWebhookSecret();

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
let stack: Stack;
let images: ImageServer;
let receiver: Receiver;
let events: QueueEvents;
let redis: Redis;
const image = uniqueName('whchaos');
const vm = uniqueName('whkill');
/** Jobs BullMQ announced as ended, and who is told next. */
const ended = new Set<string>();
let onEnd: ((id: string) => void) | null = null;

interface Row {
  run: number;
  job: string;
  fault: string;
  written_by: string;
  registered: number;
  callback: number;
  seconds: number;
}
const rows: Row[] = [];

beforeAll(async () => {
  receiver = await startReceiver();
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 64 }]));
  stack = await startStack({
    host,
    images: { [image]: { url: images.url('tiny.qcow2') } },
    adminToken: { webhook_secret: TOKEN_SECRET },
    extra: {
      placement: { cpu_allocation_ratio: 1000, memory_allocation_ratio: 100 },
      worker: { port: 0, lock_duration_ms: 3000, stalled_interval_ms: 1500, max_stalled_count: 10, inventory_refresh_ms: 60_000 },
      webhooks: { timeout_ms: 2000, attempts: 5, backoff_ms: 200, allow_networks: ['127.0.0.1/32'], outbox_poll_ms: 200, sweep_ms: 1000 },
    },
  });
  redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  events = new QueueEvents(hostQueueName('r1', 'h1'), { connection: redis.duplicate(), prefix: stack.prefix });
  await events.waitUntilReady();
  for (const ev of ['completed', 'failed'] as const) {
    events.on(ev, ({ jobId }: { jobId: string }) => {
      ended.add(jobId);
      onEnd?.(jobId);
    });
  }
}, 300_000);

afterAll(async () => {
  await events?.close();
  await stack?.stop();
  await hv.undefine(vm).catch(() => undefined);
  await redis?.quit();
  await images?.close();
  await receiver?.close();
  await hv.close();
  if (process.env.CHAOS_REPORT && rows.length) writeReport(process.env.CHAOS_REPORT);
});

const headersOf = (h: Record<string, unknown>) => ({
  'webhook-id': String(h['webhook-id']),
  'webhook-timestamp': String(h['webhook-timestamp']),
  'webhook-signature': String(h['webhook-signature']),
});

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end)
      throw new Error(
        `${what} not within ${ms} ms\n${stack.logs
          .filter((l) => !l.includes('"GET"'))
          .slice(-40)
          .join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('chaos: webhooks', () => {
  it(`10: SIGKILL the worker at the moment a job ends, ${COUNT} times: every terminal event reaches every destination, one webhook-id each`, async () => {
    const reg = await stack.fetch('/v1/webhooks', {
      method: 'POST',
      body: JSON.stringify({ url: `${receiver.url}/registered`, events: ['job.succeeded', 'job.failed'] }),
    });
    expect(reg.status).toBe(201);
    const endpoint = (await reg.json()) as { id: string; secret: string };
    const create = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: vm, region_name: 'r1', instance_type: 'tiny', image }) });
    expect(create.status).toBe(202);
    expect((await waitJob(stack, ((await create.json()) as { id: string }).id)).state).toBe('succeeded');

    for (let run = 1; run <= COUNT; run++) {
      const t0 = Date.now();
      const delay = DELAYS[(run - 1) % DELAYS.length] ?? 0;
      const runner = stack.workers.at(-1);
      let fault = 'no kill: the job ended before its id was known';
      let jobId = '';
      let killDone: () => void = () => undefined;
      const killed = new Promise<void>((r) => {
        killDone = r;
      });
      // Armed before the job is submitted: the kill follows BullMQ's own announcement of the end.
      onEnd = (id) => {
        if (id !== jobId) return;
        onEnd = null;
        setTimeout(() => {
          if (runner && runner.exitCode === null && runner.signalCode === null) {
            runner.kill('SIGKILL');
            fault = `SIGKILL ${delay} ms after the end`;
          }
          killDone();
        }, delay);
      };
      const r = await stack.fetch(`/v1/vms/r1/${vm}/tags`, {
        method: 'PUT',
        body: JSON.stringify({ tags: { run: String(run) }, webhook_url: `${receiver.url}/callback?run=${run}` }),
      });
      expect(r.status).toBe(202);
      jobId = ((await r.json()) as { id: string }).id;
      if (ended.has(jobId) && onEnd) {
        onEnd = null;
        killDone();
      }
      await killed;
      if (runner && fault.startsWith('SIGKILL')) {
        await until('the worker to die', () => runner.exitCode !== null || runner.signalCode !== null, 5000);
        await stack.startWorker();
      }
      const view = await waitJob(stack, jobId, 60_000);
      // Both destinations got the job's terminal event: at least once, every copy with one webhook-id.
      const mine = () => receiver.received.filter((x) => (JSON.parse(x.body) as { data: { id: string } }).data.id === jobId);
      await until(`job ${jobId}'s webhooks after ${fault}`, () => {
        const got = mine();
        return got.some((x) => x.path === '/registered') && got.some((x) => x.path.startsWith('/callback'));
      });
      const got = mine();
      const registered = got.filter((x) => x.path === '/registered');
      const callback = got.filter((x) => x.path.startsWith('/callback'));
      for (const [list, secret] of [
        [registered, endpoint.secret],
        [callback, TOKEN_SECRET],
      ] as const) {
        expect(new Set(list.map((x) => x.headers['webhook-id'])).size, fault).toBe(1);
        for (const x of list) {
          const p = new Webhook(secret).verify(x.body, headersOf(x.headers)) as { type: string; data: { state: string } };
          expect(p.type, fault).toBe(`job.${view.state}`);
        }
      }
      expect(registered[0]?.headers['webhook-id']).not.toBe(callback[0]?.headers['webhook-id']);
      const marker = (await redis.get(keys.webhookEnded(stack.prefix, jobId))) ?? 'none';
      rows.push({
        run,
        job: jobId,
        fault,
        written_by: marker.split(' ')[1] ?? marker,
        registered: registered.length,
        callback: callback.length,
        seconds: (Date.now() - t0) / 1000,
      });
    }
    // Every worker's log says nothing of the secrets.
    expect(stack.logs.join('\n')).not.toContain(TOKEN_SECRET.slice(6));
    const del = await stack.fetch(`/v1/vms/r1/${vm}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    expect((await waitJob(stack, ((await del.json()) as { id: string }).id)).state).toBe('succeeded');
  }, 900_000);
});

/** Replaces this scenario's part of RELIABILITY.md (between its own markers) with this run's results. */
function writeReport(path: string): void {
  const count = (f: (r: Row) => boolean) => rows.filter(f).length;
  const lines = [
    runLine(COUNT),
    '',
    '| scenario | runs | killed | end written by the worker / by a sweep | deliveries per job and destination (min / max) | distinct webhook-ids per job and destination | seconds per run (median / max) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    `| 10 SIGKILL worker at a job's end | ${rows.length} | ${count((r) => r.fault.startsWith('SIGKILL'))} | ${count((r) => r.written_by === 'event')} / ${count((r) => r.written_by === 'sweep')} | ${Math.min(...rows.flatMap((r) => [r.registered, r.callback]))} / ${Math.max(...rows.flatMap((r) => [r.registered, r.callback]))} | 1 | ${medianMax(rows.map((r) => r.seconds))} |`,
    '',
    '| run | fault | end written by | to the endpoint | to the webhook_url | seconds |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.run} | ${r.fault} | ${r.written_by} | ${r.registered} | ${r.callback} | ${r.seconds.toFixed(1)} |`),
  ];
  replaceMarked(path, 'chaos-webhooks', lines);
}
