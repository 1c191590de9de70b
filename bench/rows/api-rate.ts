/**
 * Row 3: `POST /v1/vms` accepted (202) per second with 100 concurrent clients, no worker running (the
 * jobs are removed afterwards), against a bare Hono hello-world on the same machine. Row 8: the API's
 * and a worker's resident memory at idle and under that load.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { hostQueueName } from '@provisioner/contracts';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import { uniqueName } from '../../test/support/host.ts';
import { freePort, type Stack, startStack } from '../../test/support/stack.ts';
import { type BenchContext, fmt, type Row, type RowResult, rssMiB } from '../lib.ts';

const CONNECTIONS = 100;

export async function waitUp(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(url).then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

/**
 * Replaces the stack's API (tsx) with the bundle of `npm run build` on plain Node, as the image runs it,
 * with the same configuration and port; `nodeArgs` go before the script (e.g. `--cpu-prof`).
 */
export async function swapToBundledApi(stack: Stack, nodeArgs: string[] = []): Promise<ChildProcess> {
  execFileSync(process.execPath, ['scripts/build.mjs']);
  stack.api.kill('SIGTERM');
  await new Promise((r) => stack.api.once('exit', r));
  const api = spawn(process.execPath, [...nodeArgs, 'apps/api/dist/main.js'], {
    env: { ...process.env, PROVISIONER_CONFIG: stack.configPath, PORT: '', REDIS_URL: '', API_TOKEN: '', LOG_LEVEL: '' },
    stdio: 'ignore',
  });
  await waitUp(`${stack.url}/health`);
  return api;
}

/** Runs the POST load against a stack; samples the API's RSS while it runs. */
export async function postLoad(
  stack: Stack,
  image: string,
  seconds: number,
  pid = stack.api.pid ?? 0,
): Promise<{ result: autocannon.Result; peakRss: number }> {
  const tag = uniqueName('b3').slice(3);
  let i = 0;
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssMiB(pid));
  }, 200);
  const result = await autocannon({
    url: stack.url,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/v1/vms',
        headers: { authorization: `Bearer ${stack.tokens.write}`, 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ vm_name: `b3-${tag}-${i++}`, region_name: 'r1', instance_type: 'tiny', image }) }),
      },
    ],
  });
  clearInterval(sampler);
  return { result, peakRss };
}

async function run(ctx: BenchContext): Promise<RowResult> {
  const seconds = ctx.quick ? 4 : 10;
  const image = `bench-${uniqueName('i').slice(2)}`;
  const port = await freePort();
  const hello: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'bench/hello.ts', String(port)], { stdio: 'ignore' });
  const stack = await startStack({ host: ctx.host, images: { [image]: { url: 'http://127.0.0.1:9/never-fetched.qcow2' } }, workers: 0 });
  try {
    await waitUp(`http://127.0.0.1:${port}/`);
    ctx.log('row 3: hello-world');
    const base = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, duration: seconds });
    ctx.log('row 3: POST /v1/vms');
    const { result: ours } = await postLoad(stack, image, seconds);
    const accepted = ours['2xx'];
    const rate = accepted / seconds;
    const baseRate = base.requests.average;
    const ratio = rate / baseRate;
    const notes: string[] = [];
    if (ours.non2xx > 0) notes.push(`${ours.non2xx} answers were not 2xx.`);
    return {
      row: 3,
      title: 'POST /v1/vms accepted per second, 100 concurrent clients, vs a bare Hono hello-world',
      figures: [
        { what: 'bare Hono hello-world (GET /), 100 connections', value: baseRate, unit: 'req/s' },
        { what: 'hello-world latency p50 / p99', value: base.latency.p50, unit: 'ms' },
        { what: 'POST /v1/vms answered 202, 100 connections', value: rate, unit: 'req/s' },
        { what: 'POST /v1/vms latency p50', value: ours.latency.p50, unit: 'ms' },
        { what: 'POST /v1/vms latency p99', value: ours.latency.p99, unit: 'ms' },
      ],
      targets: [
        {
          target: '≥ 50% of the hello-world rate',
          measured: `${(ratio * 100).toFixed(0)}% (${rate.toFixed(0)} vs ${baseRate.toFixed(0)} req/s)`,
          met: ratio >= 0.5,
        },
        { target: 'p99 ≤ 20 ms', measured: fmt(ours.latency.p99), met: ours.latency.p99 <= 20 },
      ],
      notes,
    };
  } finally {
    hello.kill();
    await stack.stop();
  }
}

export const row: Row = { row: 3, title: 'POST /v1/vms accepted per second vs a bare Hono hello-world', run };

export const memoryRow: Row = {
  row: 8,
  title: 'resident memory of the API and a worker, idle and under row 3’s load',
  async run(ctx) {
    const image = `bench-${uniqueName('i').slice(2)}`;
    const stack = await startStack({ host: ctx.host, images: { [image]: { url: 'http://127.0.0.1:9/never-fetched.qcow2' } }, workers: 1 });
    let bundled: ChildProcess | null = null;
    try {
      await new Promise((r) => setTimeout(r, 3000));
      const tsxIdle = rssMiB(stack.api.pid ?? 0);
      const workerIdle = rssMiB(stack.workers[0]?.pid ?? 0);
      // The API as the image runs it: the bundle of `npm run build` on plain Node, same configuration.
      bundled = await swapToBundledApi(stack);
      await new Promise((r) => setTimeout(r, 3000));
      const apiIdle = rssMiB(bundled.pid ?? 0);
      // The worker is paused on its queue so the load measures the API alone (jobs are removed after).
      const queue = new Queue(hostQueueName('r1', 'h1'), { connection: stack.redis, prefix: stack.prefix });
      await queue.pause();
      await queue.close();
      const { peakRss } = await postLoad(stack, image, ctx.quick ? 4 : 10, bundled.pid ?? 0);
      return {
        row: 8,
        title: this.title,
        figures: [
          { what: 'API RSS at idle (bundle, as the image runs it)', value: apiIdle, unit: 'MiB' },
          { what: 'API RSS peak under 100 concurrent POST /v1/vms (bundle)', value: peakRss, unit: 'MiB' },
          { what: 'API RSS at idle under tsx (development)', value: tsxIdle, unit: 'MiB' },
          { what: 'worker RSS at idle, one host (tsx)', value: workerIdle, unit: 'MiB' },
        ],
        targets: [{ target: 'API ≤ 150 MiB RSS', measured: `${peakRss.toFixed(0)} MiB peak under load, ${apiIdle.toFixed(0)} MiB idle`, met: peakRss <= 150 }],
        notes: [],
      };
    } finally {
      bundled?.kill('SIGTERM');
      await stack.stop();
    }
  },
};
