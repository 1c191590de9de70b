/**
 * A stop shows what is under way: while the guest is given its time to shut down, the VM keeps libvirt's
 * state and carries a `transition` (the stop's job and what it waits for), and the job's step says the
 * same, counting down to the power-off. Real API, worker, Redis and loopback host; the guest is a blank
 * disk, so it never answers ACPI and the whole timeout runs.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
let stack: Stack;
let images: ImageServer;
const hv = makeHypervisor(host);
const made: string[] = [];
const image = uniqueName('blank');

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'blank.qcow2', sizeMiB: 64 }]));
  stack = await startStack({ host, images: { [image]: { url: images.url('blank.qcow2') } } });
});

afterAll(async () => {
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await stack?.stop();
  await images?.close();
  await hv.close();
});

interface VmView {
  state: string;
  transition: { kind: string; job_id: string; detail: string | null } | null;
}

const COUNTDOWN = /^graceful shutdown; forcing in (\d+) s$/;

describe('transition while a job works on a VM', () => {
  it('a stop of a guest that ignores ACPI: running + transition counting down, then shut off and no transition', async () => {
    const name = uniqueName('trans');
    made.push(name);
    const created = await stack.fetch('/v1/vms', {
      method: 'POST',
      body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image }),
    });
    expect(created.status).toBe(202);
    expect(await waitJob(stack, ((await created.json()) as { id: string }).id)).toMatchObject({ state: 'succeeded' });

    const r = await stack.fetch(`/v1/vms/r1/${name}/stop`, { method: 'POST', body: JSON.stringify({ timeout_ms: 8000 }) });
    expect(r.status).toBe(202);
    const job = (await r.json()) as { id: string };

    const vm = async () => (await (await stack.fetch(`/v1/vms/r1/${name}`)).json()) as VmView;
    const seen: number[] = [];
    const stepDetails: string[] = [];
    const end = Date.now() + 30_000;
    while (Date.now() < end) {
      const [v, j] = await Promise.all([
        vm(),
        stack.fetch(`/v1/jobs/${job.id}`).then((x) => x.json() as Promise<{ state: string; steps: Array<{ detail?: string }> }>),
      ]);
      if (['succeeded', 'failed', 'canceled'].includes(j.state)) break;
      if (v.transition) {
        // libvirt's text stays what libvirt says; the transition says what is under way.
        expect(v.state).toBe('running');
        expect(v.transition).toMatchObject({ kind: 'stop', job_id: job.id });
        const m = COUNTDOWN.exec(v.transition.detail ?? '');
        if (m) seen.push(Number(m[1]));
      }
      const d = j.steps[0]?.detail;
      if (d) stepDetails.push(d);
      await new Promise((res) => setTimeout(res, 400));
    }
    // It counted down (never up), from near the timeout, seen at several values.
    expect(new Set(seen).size).toBeGreaterThanOrEqual(3);
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    expect(Math.max(...seen)).toBeLessThanOrEqual(8);
    expect(stepDetails.some((d) => COUNTDOWN.test(d))).toBe(true);

    const done = await waitJob(stack, job.id);
    expect(done).toMatchObject({ state: 'succeeded', result: { stopped: 'forced' } });
    expect((done.steps as Array<Record<string, unknown>>)[0]).not.toHaveProperty('detail');
    expect(await vm()).toMatchObject({ state: 'shut off', transition: null });
  });
});
