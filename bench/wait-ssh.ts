/**
 * SSH executions per second on a host while creates wait for their guests (`wait_until: ready`):
 * `node --import tsx bench/wait-ssh.ts [--vms 50] [--seconds 20]`. Blank-disk VMs (no OS: never ready) are
 * created through the service on the loopback host and left waiting; the worker's own SSH metrics
 * (provisioner_ssh_command_duration_seconds_count, by command) are read before and after the window.
 * The VMs are removed at the end.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { makeHypervisor, makeImages, startImageServer, uniqueName } from '../test/support/host.ts';
import { parseMetrics } from '../test/support/prom.ts';
import { startStack } from '../test/support/stack.ts';
import { loopbackHost } from './lib.ts';

const { values } = parseArgs({ options: { vms: { type: 'string', default: '50' }, seconds: { type: 'string', default: '20' } } });
const VMS = Number(values.vms);
const SECONDS = Number(values.seconds);
const log = (m: string) => process.stderr.write(`wait-ssh: ${m}\n`);

execFileSync('bash', ['install-server.sh', '--local', '--skip-packages'], { stdio: ['ignore', 'ignore', 'inherit'] });
// The stack runs the bundles (test/support/stack.ts): built from this tree, as the tests' global setup does.
if (process.env.PROVISIONER_TEST_TSX !== '1') {
  // @ts-expect-error: a plain .mjs script without type declarations
  await import('../scripts/build.mjs').then((m: { buildBundles(): Promise<void> }) => m.buildBundles());
}
const host = loopbackHost();
const hv = makeHypervisor(host);
const images = await startImageServer(makeImages([{ name: 'blank.qcow2', sizeMiB: 16 }]));
const stack = await startStack({ host, maxConcurrent: 4, images: { blank: { url: images.url('blank.qcow2') } } });
const made: string[] = [];
try {
  const line = stack.logs.find((l) => l.startsWith('[worker0] ') && l.includes('"worker ready"'));
  const port = (JSON.parse(line?.slice('[worker0] '.length) ?? '{}') as { port: number }).port;
  /** Remote commands run on the host so far, by command. */
  const commands = async (): Promise<Map<string, number>> => {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${stack.tokens.read}` } });
    const out = new Map<string, number>();
    for (const f of parseMetrics(await r.text()).samples.filter((x) => x.name === 'provisioner_ssh_command_duration_seconds_count')) {
      for (const s of f.metrics) {
        const c = s.labels?.command ?? '?';
        if (s.labels?.host === 'r1/h1') out.set(c, (out.get(c) ?? 0) + Number(s.value));
      }
    }
    return out;
  };
  const ids: string[] = [];
  for (let i = 0; i < VMS; i++) {
    const name = uniqueName('bw');
    made.push(name);
    const body = { vm_name: name, region_name: 'r1', instance_type: 'tiny', image: 'blank', wait_until: 'ready', ready_timeout_s: 900 };
    const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify(body) });
    if (r.status !== 202) throw new Error(`create ${name}: ${r.status} ${await r.text()}`);
    ids.push(((await r.json()) as { id: string }).id);
  }
  log(`${VMS} creates submitted; waiting until each waits for its guest`);
  for (const id of ids) {
    for (;;) {
      const j = (await (await stack.fetch(`/v1/jobs/${id}`)).json()) as { state: string; step: string | null };
      if (j.step === 'wait-ready') break;
      if (['succeeded', 'failed', 'canceled'].includes(j.state)) throw new Error(`job ${id} ended ${j.state}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  // Every waiter has looked at least once, and the host's queue is otherwise idle.
  await new Promise((r) => setTimeout(r, 3000));
  const before = await commands();
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const after = await commands();
  const s = (Date.now() - t0) / 1000;
  const by = [...after].map(([c, n]) => [c, (n - (before.get(c) ?? 0)) / s] as const).filter(([, r]) => r > 0);
  const total = by.reduce((a, [, r]) => a + r, 0);
  console.log(`${VMS} VMs waiting, ${s.toFixed(1)} s: ${total.toFixed(2)} SSH executions/s (${by.map(([c, r]) => `${c} ${r.toFixed(2)}`).join(', ')})`);
} finally {
  await stack.stop();
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await images.close();
  await hv.close();
}
