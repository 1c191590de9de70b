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
import { type BenchContext, fmt, median, type Row, type RowResult, rssMiB } from '../lib.ts';

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
export async function swapToBundledApi(stack: Stack, nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  execFileSync(process.execPath, ['scripts/build.mjs']);
  stack.api.kill('SIGTERM');
  await new Promise((r) => stack.api.once('exit', r));
  const api = spawn(process.execPath, [...nodeArgs, 'apps/api/dist/main.js'], {
    env: { ...process.env, PROVISIONER_CONFIG: stack.configPath, PORT: '', REDIS_URL: '', API_TOKEN: '', LOG_LEVEL: '', ...env },
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
  const { results, peakRss } = await postLoadSplit(stack, [stack.url], image, seconds, [pid]);
  return { result: results[0] as autocannon.Result, peakRss };
}

/**
 * The POST load split evenly over `urls` (one API process each): 100 connections in all, one autocannon per
 * URL running at the same time; the peak RSS is the largest of `pids`'.
 */
export async function postLoadSplit(
  stack: Stack,
  urls: string[],
  image: string,
  seconds: number,
  pids: number[],
): Promise<{ results: autocannon.Result[]; peakRss: number }> {
  const tag = uniqueName('b3').slice(3);
  let i = 0;
  let peakRss = 0;
  const sampler = setInterval(() => {
    for (const pid of pids) peakRss = Math.max(peakRss, rssMiB(pid));
  }, 200);
  const body = (n: number) => JSON.stringify({ vm_name: `b3-${tag}-${n}`, region_name: 'r1', instance_type: 'tiny', image });
  const results = await Promise.all(
    urls.map((url, k) =>
      autocannon({
        url,
        connections: Math.floor(CONNECTIONS / urls.length) + (k < CONNECTIONS % urls.length ? 1 : 0),
        duration: seconds,
        requests: [
          {
            method: 'POST',
            path: '/v1/vms',
            headers: { authorization: `Bearer ${stack.tokens.write}`, 'content-type': 'application/json' },
            setupRequest: (req) => ({ ...req, body: body(i++) }),
          },
        ],
      }),
    ),
  );
  clearInterval(sampler);
  return { results, peakRss };
}

/** Raw BullMQ `Queue.add`: its own Node process (bench/bullmq-add.ts), same Redis, 100 adds in flight. */
export function bullmqAddRate(seconds: number, bytes: number): { rate: number; p50: number; p99: number } {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'bench/bullmq-add.ts', String(seconds), String(bytes), String(CONNECTIONS)], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { rate: number; p50: number; p99: number };
}

/** Bundled API processes on the stack's configuration: the stack's own port first, then `n - 1` ports of their own. */
async function bundledApis(stack: Stack, n: number): Promise<{ procs: ChildProcess[]; urls: string[] }> {
  const first = await swapToBundledApi(stack);
  const procs = [first];
  const urls = [stack.url];
  for (let k = 1; k < n; k++) {
    const port = await freePort();
    procs.push(
      spawn(process.execPath, ['apps/api/dist/main.js'], {
        env: { ...process.env, PROVISIONER_CONFIG: stack.configPath, PORT: String(port), REDIS_URL: '', API_TOKEN: '', LOG_LEVEL: '' },
        stdio: 'ignore',
      }),
    );
    urls.push(`http://127.0.0.1:${port}`);
    await waitUp(`http://127.0.0.1:${port}/health`);
  }
  return { procs, urls };
}

/** The floor's load: 100 connections POSTing a create's body to bench/hello.ts's `/add`. */
async function floorLoad(port: number, seconds: number): Promise<autocannon.Result> {
  let i = 0;
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/add',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ vm_name: `f-${i++}`, region_name: 'r1', instance_type: 'tiny', image: 'x' }) }),
      },
    ],
  });
}

/** Summed accepted rate and the worst p50/p99 of a split load. */
function combine(results: autocannon.Result[], seconds: number): { rate: number; p50: number; p99: number; non2xx: number } {
  return {
    rate: results.reduce((a, r) => a + r['2xx'], 0) / seconds,
    p50: Math.max(...results.map((r) => r.latency.p50)),
    p99: Math.max(...results.map((r) => r.latency.p99)),
    non2xx: results.reduce((a, r) => a + r.non2xx, 0),
  };
}

async function run(ctx: BenchContext): Promise<RowResult> {
  const seconds = ctx.quick ? 4 : 8;
  const rounds = ctx.quick ? 1 : 3;
  const image = `bench-${uniqueName('i').slice(2)}`;
  const port = await freePort();
  let hello: ChildProcess | null = null;
  const stack = await startStack({ host: ctx.host, images: { [image]: { url: 'http://127.0.0.1:9/never-fetched.qcow2' } }, workers: 0 });
  let procs: ChildProcess[] = [];
  try {
    const apis = await bundledApis(stack, 2);
    procs = apis.procs;
    // The raw baseline's payload is as long as a create's job data as BullMQ stores it.
    const probe = await stack.fetch('/v1/vms', {
      method: 'POST',
      token: stack.tokens.write,
      body: JSON.stringify({ vm_name: uniqueName('b3p'), region_name: 'r1', instance_type: 'tiny', image }),
    });
    const { id } = (await probe.json()) as { id: string };
    const stored = await stack.redis.hget(`${stack.prefix}:${hostQueueName('r1', 'h1')}:${id}`, 'data');
    const bytes = stored?.length ?? 600;
    hello = spawn(process.execPath, ['--import', 'tsx', 'bench/hello.ts', String(port), String(bytes)], { stdio: 'ignore' });
    await waitUp(`http://127.0.0.1:${port}/`);
    const raw: Array<{ rate: number; p50: number; p99: number }> = [];
    const one: Array<ReturnType<typeof combine>> = [];
    const two: Array<ReturnType<typeof combine>> = [];
    const floor: Array<ReturnType<typeof combine>> = [];
    const helloRates: number[] = [];
    let peakRss = 0;
    for (let r = 0; r < rounds; r++) {
      // Who goes first alternates, so neither side always meets the machine's load of the moment first.
      const steps = [
        async () => {
          ctx.log(`row 3 round ${r + 1}: raw BullMQ Queue.add`);
          raw.push(bullmqAddRate(seconds, bytes));
        },
        async () => {
          ctx.log(`row 3 round ${r + 1}: POST /v1/vms, one API process`);
          const l = await postLoadSplit(stack, [apis.urls[0] as string], image, seconds, [procs[0]?.pid ?? 0]);
          peakRss = Math.max(peakRss, l.peakRss);
          one.push(combine(l.results, seconds));
        },
        async () => {
          ctx.log(`row 3 round ${r + 1}: POST /v1/vms, two API processes`);
          const l = await postLoadSplit(
            stack,
            apis.urls,
            image,
            seconds,
            procs.map((p) => p.pid ?? 0),
          );
          two.push(combine(l.results, seconds));
        },
        async () => {
          ctx.log(`row 3 round ${r + 1}: the floor: HTTP body + one Queue.add (bench/hello.ts POST /add)`);
          floor.push(combine([await floorLoad(port, seconds)], seconds));
        },
      ];
      for (const step of r % 2 === 0 ? steps : steps.reverse()) await step();
    }
    ctx.log('row 3: hello-world (context)');
    helloRates.push((await autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, duration: seconds })).requests.average);
    const rawRate = median(raw.map((x) => x.rate));
    const oneRate = median(one.map((x) => x.rate));
    const twoRate = median(two.map((x) => x.rate));
    // Ratios round by round (each side measured minutes apart at most), then their median.
    const ratioOne = median(one.map((x, k) => x.rate / (raw[k]?.rate ?? Number.NaN)));
    const ratioTwo = median(two.map((x, k) => x.rate / (raw[k]?.rate ?? Number.NaN)));
    const floorRate = median(floor.map((x) => x.rate));
    const ratioFloor = median(floor.map((x, k) => x.rate / (raw[k]?.rate ?? Number.NaN)));
    const ratioOneFloor = median(one.map((x, k) => x.rate / (floor[k]?.rate ?? Number.NaN)));
    const p99One = median(one.map((x) => x.p99));
    const p99Two = median(two.map((x) => x.p99));
    const notes: string[] = [
      `${rounds} round(s) of ${seconds} s each, order alternating; medians of the rounds. Raw BullMQ: ${raw.map((x) => x.rate.toFixed(0)).join(', ')} adds/s; one API: ${one.map((x) => x.rate.toFixed(0)).join(', ')}; two APIs: ${two.map((x) => x.rate.toFixed(0)).join(', ')} creates/s. Job payload ${bytes} bytes. Two API processes listen on two ports, 50 connections each (Node 20 has no SO_REUSEPORT). API RSS peak (one process) ${peakRss.toFixed(0)} MiB.`,
    ];
    notes.push(
      `The floor (an HTTP front doing nothing but reading the body and one Queue.add) reached ${(ratioFloor * 100).toFixed(0)}% of raw BullMQ; one API process reached ${(ratioOneFloor * 100).toFixed(0)}% of the floor.`,
    );
    const non2xx = [...one, ...two, ...floor].reduce((a, x) => a + x.non2xx, 0);
    if (non2xx > 0) notes.push(`${non2xx} answers were not 2xx.`);
    return {
      row: 3,
      title: 'POST /v1/vms accepted per second, 100 in flight, vs raw BullMQ Queue.add',
      figures: [
        { what: `raw BullMQ Queue.add, 100 in flight, ${bytes}-byte payload`, value: rawRate, unit: 'adds/s' },
        { what: 'raw BullMQ Queue.add latency p99', value: median(raw.map((x) => x.p99)), unit: 'ms' },
        { what: 'POST /v1/vms answered 202, one API process, 100 connections', value: oneRate, unit: 'req/s' },
        { what: 'one API process: latency p50', value: median(one.map((x) => x.p50)), unit: 'ms' },
        { what: 'one API process: latency p99', value: p99One, unit: 'ms' },
        { what: 'POST /v1/vms answered 202, two API processes, 100 connections', value: twoRate, unit: 'req/s' },
        { what: 'two API processes: latency p99', value: p99Two, unit: 'ms' },
        { what: 'the floor: Hono POST reading the body + one Queue.add, 100 connections', value: floorRate, unit: 'req/s' },
        { what: 'the floor: latency p99', value: median(floor.map((x) => x.p99)), unit: 'ms' },
        { what: 'bare Hono hello-world (GET /, no Redis), 100 connections: context', value: median(helloRates), unit: 'req/s' },
      ],
      targets: [
        {
          target: '≥ 50% of raw BullMQ Queue.add (one API process)',
          measured: `${(ratioOne * 100).toFixed(0)}% (${oneRate.toFixed(0)} vs ${rawRate.toFixed(0)}/s); two processes ${(ratioTwo * 100).toFixed(0)}%`,
          met: ratioOne >= 0.5,
        },
        { target: 'p99 ≤ 30 ms', measured: `${fmt(p99One)} (one), ${fmt(p99Two)} (two)`, met: p99One <= 30 },
      ],
      notes,
    };
  } finally {
    if (hello) {
      const h = hello;
      const exited = new Promise((r) => h.once('exit', r));
      h.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }
    for (const p of procs) p.kill('SIGTERM');
    await stack.stop();
  }
}

export const row: Row = { row: 3, title: 'POST /v1/vms accepted per second vs raw BullMQ Queue.add', run };

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
      // Row 3's load as row 3 runs it: without the host info the worker published, placement does not
      // count the host's real disk, which thousands of accepted creates fill (then every create is a 409).
      for (const w of stack.workers) w.kill('SIGTERM');
      await new Promise((res) => setTimeout(res, 1000));
      await stack.redis.del(`${stack.prefix}:hostinfo:r1/h1`);
      // As the image runs it (the API grows V8's old generation by at most half: apps/api/src/main.ts), with
      // V8's default growth instead, and with the young generation capped too (its two semi-spaces are 16 MiB
      // each by default, committed as soon as the allocation rate fills them), rounds alternating.
      const variants: Array<{ name: string; args: string[]; env: NodeJS.ProcessEnv }> = [
        { name: 'as shipped', args: [], env: {} },
        { name: "V8's default old-generation growth (--heap-growing-percent=0)", args: ['--heap-growing-percent=0'], env: {} },
        { name: '--max-semi-space-size=4 besides', args: ['--max-semi-space-size=4'], env: {} },
      ];
      const peaks = new Map<string, number[]>(variants.map((v) => [v.name, []]));
      const rates = new Map<string, number[]>(variants.map((v) => [v.name, []]));
      const seconds = ctx.quick ? 4 : 8;
      for (let r = 0; r < (ctx.quick ? 1 : 2); r++) {
        for (const v of r % 2 === 0 ? variants : [...variants].reverse()) {
          stack.api = bundled; // swapToBundledApi stops the stack's current API
          bundled = await swapToBundledApi(stack, v.args, v.env);
          await new Promise((res) => setTimeout(res, 1000));
          const { result, peakRss } = await postLoad(stack, image, seconds, bundled.pid ?? 0);
          peaks.get(v.name)?.push(peakRss);
          rates.get(v.name)?.push(result['2xx'] / seconds);
        }
      }
      const peakRss = median(peaks.get('as shipped') ?? []);
      return {
        row: 8,
        title: this.title,
        figures: [
          { what: 'API RSS at idle (bundle, as the image runs it)', value: apiIdle, unit: 'MiB' },
          { what: 'API RSS peak under 100 concurrent POST /v1/vms (bundle)', value: peakRss, unit: 'MiB' },
          ...variants
            .slice(1)
            .map((v) => ({ what: `API RSS peak under that load with ${v.name}`, value: median(peaks.get(v.name) ?? []), unit: 'MiB' as const })),
          { what: 'API RSS at idle under tsx (development)', value: tsxIdle, unit: 'MiB' },
          { what: 'worker RSS at idle, one host (tsx)', value: workerIdle, unit: 'MiB' },
        ],
        targets: [{ target: 'API ≤ 150 MiB RSS', measured: `${peakRss.toFixed(0)} MiB peak under load, ${apiIdle.toFixed(0)} MiB idle`, met: peakRss <= 150 }],
        notes: [
          `Peaks per round (MiB) at the creates/s each round accepted: ${variants
            .map(
              (v) =>
                `${v.name} ${(peaks.get(v.name) ?? []).map((x) => x.toFixed(0)).join(', ')} at ${(rates.get(v.name) ?? []).map((x) => x.toFixed(0)).join(', ')}/s`,
            )
            .join('; ')}.`,
        ],
      };
    } finally {
      bundled?.kill('SIGTERM');
      await stack.stop();
    }
  },
};
