/**
 * Row 10's paging alone, on a synthetic inventory: `GET /v1/vms` walked by 10 clients in pages of 100 over
 * HOSTS × PER_HOST VMs written straight into the inventory (no domains defined, no worker), against the API
 * bundle as the image runs it; optionally under `--cpu-prof` (then where the API's time goes). Quick to
 * repeat while changing the API's read path; row 10 measures the same walk over real listings.
 *
 *   node --import tsx bench/profile-pages.ts [seconds] [--prof]
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GUEST_UNKNOWN, type InventoryVm } from '@provisioner/contracts';
import { InventoryStore } from '@provisioner/store';
import { hostConfig, startStack } from '../test/support/stack.ts';
import { loopbackHost, quantile } from './lib.ts';
import { swapToBundledApi } from './rows/api-rate.ts';
import { walkPages } from './rows/fleet.ts';

const HOSTS = 5;
const PER_HOST = 1000;
const seconds = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 8);
const prof = process.argv.includes('--prof');
const dir = 'bench/results/profile-pages';
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });

const host = loopbackHost();
const extraHosts = Array.from({ length: HOSTS - 1 }, (_, i) => hostConfig(`h${i + 2}`, host));
const stack = await startStack({ host, images: {}, workers: 0, extraHosts });
try {
  const store = new InventoryStore(stack.redis, stack.prefix);
  const vm = (name: string): InventoryVm => ({
    name,
    uuid: '6f1d7a4e-1b2c-4d3e-8f90-0123456789ab',
    dom_id: null,
    state: 'shut off',
    managed: true,
    tags: { owner: 'fleet', 'provisioner:instance-id': `fleet-${name}` },
    ip: null,
    vcpus: 1,
    memory_mb: 64,
    image: 'debian-12',
    instance_type: 'tiny',
    addresses: [],
    guest: GUEST_UNKNOWN,
    snapshots: [],
  });
  for (let h = 1; h <= HOSTS; h++) {
    const now = new Date().toISOString();
    await store.putEntry({
      region: 'r1',
      host: `h${h}`,
      observed_at: now,
      attempted_at: now,
      error: null,
      vms: Array.from({ length: PER_HOST }, (_, i) => vm(`fl-${i}`)),
    });
  }
  const api = await swapToBundledApi(stack, prof ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []);
  await walkPages(stack, 1); // warm-up
  for (const client of ['http', 'fetch'] as const) {
    const w = await walkPages(stack, seconds, client);
    const q = (p: number) => quantile(w.latencies, p).toFixed(1);
    console.log(
      `${HOSTS * PER_HOST} VMs, ${client} client: ${w.pages} pages in ${seconds} s (${(w.pages / seconds).toFixed(0)}/s): p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms`,
    );
  }
  api.kill('SIGTERM');
  await new Promise((r) => api.once('exit', r));
  if (prof) {
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no profile written');
    const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
      samples: number[];
      timeDeltas: number[];
    };
    const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    const byFunction = new Map<string, number>();
    let total = 0;
    for (const [i, id] of p.samples.entries()) {
      const f = byId.get(id);
      const dt = p.timeDeltas[i] ?? 0;
      if (!f) continue;
      total += dt;
      const fn = `${f.functionName || '(anonymous)'} ${f.url.split('/').at(-1) ?? ''}:${f.lineNumber}`;
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + dt);
    }
    const top = [...byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
    console.log(top.map(([k, v]) => `  ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`).join('\n'));
  }
} finally {
  await stack.stop();
}
