/**
 * Horizontal scale on each Redis set-up users run: two API processes and three worker processes run a
 * burst of thirty jobs (six VMs, five operations each, submitted through both APIs at once) to completion,
 * one of the workers stopping (SIGTERM) mid-burst,
 * each VM's operations one at a time in submission order and never more than the host's limit at once:
 * against a single Redis, a real Redis Sentinel set-up and a real three-node Redis Cluster started here.
 */
import { scanKeys } from '@provisioner/store/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type RedisSetup, startCluster, startSentinel } from '../support/redis-ha.ts';
import { type Stack, startStack, waitJob, workSpan } from '../support/stack.ts';

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
const made: string[] = [];
let images: ImageServer | undefined;

afterAll(async () => {
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await hv.close();
  await images?.close();
});

const LIMIT = 2;
/** Six VMs, five operations each: a thirty-job burst. */
const VMS = 6;

async function burst(setup: RedisSetup | null): Promise<void> {
  images ??= await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 32 }]));
  const image = uniqueName('img');
  let stack: Stack | undefined;
  try {
    stack = await startStack({
      host,
      images: { [image]: { url: images.url('tiny.qcow2') } },
      workers: 3,
      apis: 2,
      maxConcurrent: LIMIT,
      ...(setup ? { redis: setup } : {}),
    });
    const s = stack;
    const vms = Array.from({ length: VMS }, () => uniqueName('ha'));
    made.push(...vms);
    let n = 0;
    const submit = async (method: string, path: string, body?: unknown) => {
      const r = await s.fetch(path, { method, api: n++, body: body === undefined ? undefined : JSON.stringify(body) });
      expect(r.status, `${method} ${path}: ${await r.clone().text()}`).toBe(202);
      return ((await r.json()) as { id: string }).id;
    };
    // Each VM's five operations in order; the two VMs' submissions interleave, through both APIs.
    const perVm = await Promise.all(
      vms.map(async (vm) => [
        await submit('POST', '/v1/vms', { vm_name: vm, region_name: 'r1', instance_type: 'tiny', image }),
        await submit('PUT', `/v1/vms/r1/${vm}/tags`, { tags: { step: '1' } }),
        await submit('POST', `/v1/vms/r1/${vm}/stop`, { force: true }),
        await submit('PUT', `/v1/vms/r1/${vm}/tags`, { tags: { step: '3' } }),
        await submit('DELETE', `/v1/vms/r1/${vm}`),
      ]),
    );
    const stateOf = async (id: string): Promise<string> => {
      // The API answers 503 for the moment it takes to reach a new master after a failover.
      for (let i = 0; i < 100; i++) {
        const r = await s.fetch(`/v1/jobs/${id}`);
        if (r.status === 200) return ((await r.json()) as { state: string }).state;
        await new Promise((res) => setTimeout(res, 100));
      }
      throw new Error(`job ${id} unreadable`);
    };
    // Sentinel: the master fails over while the burst runs; every process follows it to the new master.
    if (setup?.failover) {
      await setup.failover();
      // Jobs were still to run on the new master (the failover happened mid-burst, not after it).
      const states = await Promise.all(perVm.flat().map(stateOf));
      expect(states.filter((st) => st === 'queued' || st === 'running').length).toBeGreaterThan(0);
    }
    // Which process runs a job is BullMQ's choice: a worker that ends a job fetches the next one in the same
    // call, so with the host's limit of two one process may well run the whole burst while the others wait.
    // To show the burst does not depend on one process, the first worker that ran a job stops (SIGTERM,
    // graceful) mid-burst; the rest of the burst runs on the other two.
    const succeeded = () => s.logs.filter((l) => l.startsWith('[worker') && l.includes('"job succeeded"') && !l.includes('"refresh"'));
    for (const end = Date.now() + 60_000; succeeded().length === 0; await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > end) throw new Error(`no job succeeded within 60 s\n${s.logs.slice(-30).join('\n')}`);
    }
    const first = Number(/^\[worker(\d+)\]/.exec(succeeded()[0] ?? '')?.[1]);
    const stopped = s.workers[first];
    if (!stopped) throw new Error(`no worker ${first}`);
    await new Promise<void>((r) => {
      stopped.once('exit', () => r());
      stopped.kill('SIGTERM');
    });
    const left = (await Promise.all(perVm.flat().map(stateOf))).filter((st) => st === 'queued' || st === 'running');
    expect(left.length, 'jobs still to run once a worker stopped').toBeGreaterThan(0);
    const views = await Promise.all(perVm.map((ids) => Promise.all(ids.map((id) => waitJob(s, id, 120_000)))));
    const all = views.flat();
    expect(all).toHaveLength(VMS * 5);
    for (const v of all) expect(v.state, JSON.stringify(v.error)).toBe('succeeded');
    for (const ops of views) {
      for (let i = 1; i < ops.length; i++) {
        expect(workSpan(ops[i] ?? {})[0]).toBeGreaterThanOrEqual(workSpan(ops[i - 1] ?? {})[1]);
      }
    }
    const windows = all.map((v) => [Date.parse(String(v.started_at)), Date.parse(String(v.finished_at))] as const);
    const overlap = Math.max(...windows.map(([t]) => windows.filter(([a, b]) => a <= t && t < b).length));
    expect(overlap).toBeLessThanOrEqual(LIMIT);
    // The jobs were spread over the worker processes: the one stopped mid-burst and at least one other.
    const ran = new Set(succeeded().map((l) => l.slice(0, l.indexOf(']') + 1)));
    expect(ran.has(`[worker${first}]`)).toBe(true);
    expect(ran.size).toBeGreaterThan(1);
    for (const vm of vms) await expect(hv.getDomain(vm)).rejects.toThrow();
    // It all went through the set-up's Redis: its keys are there, and none in the machine's.
    expect((await scanKeys(s.redis, `${s.prefix}:*`)).length).toBeGreaterThan(0);
    if (setup) {
      const machine = new Redis('redis://127.0.0.1:6379');
      expect(await scanKeys(machine, `${s.prefix}:*`)).toEqual([]);
      await machine.quit();
    }
  } finally {
    await stack?.stop();
    await setup?.stop();
  }
}

describe('two APIs and three workers run a thirty-job burst', () => {
  it('against a single Redis', () => burst(null), 180_000);
  it('against a Redis Sentinel set-up (master, replica, sentinel), failing over mid-burst', async () => burst(await startSentinel()), 180_000);
  it('against a three-node Redis Cluster', async () => burst(await startCluster()), 180_000);
});
