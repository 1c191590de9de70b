/**
 * The CPU profile behind BENCHMARKS.md's row 3 analysis: the API bundle (as the image runs it) under
 * row 3's load (100 clients POSTing creates, no worker) with `node --cpu-prof`; prints the rate and
 * where the API's time goes (self time by package and by function). The .cpuprofile is kept in
 * bench/results/ for Chrome DevTools or speedscope.
 *
 *   node --import tsx bench/profile-api.ts [seconds]
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startStack } from '../test/support/stack.ts';
import { loopbackHost } from './lib.ts';
import { postLoad, swapToBundledApi } from './rows/api-rate.ts';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

const seconds = Number(process.argv[2] ?? 8);
const dir = 'bench/results/profile';
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });

const image = 'bench-profile';
const stack = await startStack({ host: loopbackHost(), images: { [image]: { url: 'http://127.0.0.1:9/never-fetched.qcow2' } }, workers: 0 });
try {
  const api = await swapToBundledApi(stack, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const { result } = await postLoad(stack, image, seconds, api.pid ?? 0);
  api.kill('SIGTERM');
  await new Promise((r) => api.once('exit', r));
  console.log(`POST /v1/vms: ${(result['2xx'] / seconds).toFixed(0)} accepted/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);

  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no profile written');
  const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const [i, id] of p.samples.entries()) {
    const dt = p.timeDeltas[i] ?? 0;
    const f = byId.get(id);
    if (!f) continue;
    total += dt;
    const pkg = f.url.includes('node_modules/')
      ? (f.url.split('node_modules/').at(-1)?.split('/')[0] ?? f.url)
      : f.url.startsWith('node:')
        ? f.url
        : f.url
          ? (f.url.split('/').at(-1) ?? f.url)
          : f.functionName || '(native)';
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + dt);
    const fn = `${f.functionName || '(anonymous)'} ${f.url.split('/').at(-1) ?? ''}:${f.lineNumber}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  console.log(`\nself time by package (${(total / 1e6).toFixed(1)} s sampled):\n${top(byPackage, 15)}`);
  console.log(`\nself time by function:\n${top(byFunction, 20)}`);
  console.log(`\nprofile: ${join(dir, file)}`);
} finally {
  await stack.stop();
}
