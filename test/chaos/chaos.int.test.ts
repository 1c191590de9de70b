/**
 * The fault suite (issue 6), every scenario (1-7), against the real loopback host, real API and worker
 * processes, and a Redis and an sshd of its own on spare ports (the machine's Redis and the shared sshd
 * are never touched):
 *   1. SIGKILL a worker at a random step of a create: every job succeeds, one domain each, nothing orphaned.
 *   2. Restart Redis (gracefully, then SIGKILL) during a burst of creates: every accepted job ends; losses counted.
 *   3. Kill the SSH session on the host mid-command: the job is retried on a new connection and succeeds.
 *   4. Make the host unreachable: jobs retry with backoff, then fail with a clear error; nothing half-made.
 *   5. Cancel at each step of a create: no domain, disk, seed or remote process left.
 *   6. Replay storms with Idempotency-Key, and ~200 hostile inputs: all 4xx, and a canary file proves nothing ran.
 *   7. SIGTERM the worker during a job: it finishes (or is handed back), never lost.
 *   8. SIGKILL a worker at each step of a rebuild: the VM always has its domain and a disk; the job succeeds.
 *   9. SIGKILL a worker at each step of a resize: the VM always has its domain and its disk; the job succeeds with the new sizes.
 * `npm test` runs it with small counts; `npm run chaos` with CHAOS_COUNT=20 and writes the results table
 * into RELIABILITY.md (CHAOS_REPORT).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostQueueName, isTagValue, type ProgressData, STEPS } from '@provisioner/contracts';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ChaosRow, replaceMarked, runLine, runTables } from '../support/chaos-report.ts';
import { type OwnService, startOwnRedis, startOwnSshd } from '../support/faults.ts';
import { type ImageServer, makeHypervisor, makeImages, processTable, startImageServer, uniqueName } from '../support/host.ts';
import { HOSTILE } from '../support/hostile.ts';
import { freePort, type Stack, startStack, waitJob } from '../support/stack.ts';

const COUNT = Math.max(1, Number(process.env.CHAOS_COUNT ?? 2));
const KILLS = COUNT;
const CUTS = Math.max(1, Math.round(COUNT / 4));
const CANCEL_ROUNDS = Math.max(1, Math.round(COUNT / 10));
const CREATE_STEPS = STEPS.create;

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
let redisSvc: OwnService;
let sshd: Awaited<ReturnType<typeof startOwnSshd>>;
let stack: Stack;
let fast: ImageServer;
let slow: ImageServer;
let redis: Redis;
let queue: Queue;
const fastImage = uniqueName('chfast');
/** Another image (other content) to rebuild onto (scenario 8). */
const otherImage = uniqueName('chother');
const slowImages = Array.from({ length: 2 * CUTS + CANCEL_ROUNDS }, () => uniqueName('chslow'));
const made: string[] = [];
const redisDir = mkdtempSync(join(tmpdir(), 'prov-chaos-redis-'));
/** Creates per Redis restart (scenario 2): the issue's 50 at full count, a handful in `npm test`. */
const BURST = COUNT >= 20 ? 50 : 4;

type Row = ChaosRow;
const rows: Row[] = [];

beforeAll(async () => {
  redisSvc = await startOwnRedis(await freePort(), { dir: redisDir });
  sshd = await startOwnSshd(await freePort());
  fast = await startImageServer(
    makeImages([
      { name: 'fast.qcow2', sizeMiB: 64 },
      { name: 'other.qcow2', sizeMiB: 80 },
    ]),
  );
  // ~200 KiB at 64 KiB/s: a download of about 3 s, long enough to hit mid-command.
  slow = await startImageServer(makeImages([{ name: 'slow.qcow2', sizeMiB: 64 }]), { bytesPerSecond: 64 * 1024 });
  const images: Record<string, { url: string }> = { [fastImage]: { url: fast.url('fast.qcow2') }, [otherImage]: { url: fast.url('other.qcow2') } };
  for (const n of slowImages) images[n] = { url: slow.url('slow.qcow2') };
  const redisUrl = `redis://127.0.0.1:${redisSvc.port}`;
  stack = await startStack({
    host: { ...host, port: sshd.port },
    workers: 2,
    images,
    extra: {
      redis_url: redisUrl,
      // The loopback host is shared with every other test's VMs: placement must not be what fails here.
      placement: { cpu_allocation_ratio: 1000, memory_allocation_ratio: 100 },
      worker: {
        port: 0,
        attempts: 4,
        backoff_ms: 300,
        stop_timeout_ms: 2000,
        inventory_refresh_ms: 60_000,
        lock_duration_ms: 3000,
        stalled_interval_ms: 1500,
        max_stalled_count: 10,
      },
    },
  });
  redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue(hostQueueName('r1', 'h1'), { connection: redis, prefix: stack.prefix });
}, 300_000);

afterAll(async () => {
  // Workers first (a job still running could make a domain after it was removed), then the VMs.
  await stack?.stop();
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await queue?.close();
  await redis?.quit();
  await sshd?.stop();
  await redisSvc?.stop();
  rmSync(redisDir, { recursive: true, force: true });
  await fast?.close();
  await slow?.close();
  await hv.close();
  if (process.env.CHAOS_REPORT && rows.length) writeReport(process.env.CHAOS_REPORT);
});

type JobBody = { id: string; state: string; attempts: number; error: { code: string } | null };

async function createVm(prefix: string, image: string): Promise<{ name: string; job: JobBody }> {
  const name = uniqueName(prefix);
  made.push(name);
  const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image }) });
  const body = await r.text();
  expect(r.status, body).toBe(202);
  return { name, job: JSON.parse(body) as JobBody };
}

/** The step a job is running now, read straight from Redis (fast enough to catch the short steps). */
async function runningStep(id: string): Promise<{ step: string | null; finished: boolean }> {
  const job = await queue.getJob(id);
  const p = (typeof job?.progress === 'object' ? job.progress : null) as ProgressData | null;
  const running = p?.steps?.find((s) => s.state === 'running')?.name ?? null;
  return { step: running, finished: Boolean(job?.finishedOn) };
}

/**
 * Submits a day-2 operation on `name`, SIGKILLs the worker running it once it reaches step `target`, checks
 * right after the kill (before any worker picks the job up again) that the VM is the same domain with its
 * disk, starts a new worker and waits for the job's end.
 */
async function killDuring(
  op: 'rebuild' | 'resize',
  name: string,
  body: object,
  steps: readonly string[],
  target: string,
  uuid: string,
): Promise<{ end: JobBody; fault: string }> {
  const r = await stack.fetch(`/v1/vms/r1/${name}/${op}`, { method: 'POST', body: JSON.stringify(body) });
  expect(r.status).toBe(202);
  const job = (await r.json()) as JobBody;
  let fault = `no kill: the ${op} ended before ${target}`;
  await until(
    `${op} ${job.id} to reach ${target}`,
    async () => {
      const s = await runningStep(job.id);
      return s.finished || (s.step !== null && steps.indexOf(s.step) >= steps.indexOf(target));
    },
    30_000,
    2,
  );
  const line = stack.logs.findLast((l) => l.includes(job.id) && l.includes('job started'));
  const runner = line ? stack.workers[Number(/^\[worker(\d+)\]/.exec(line)?.[1] ?? -1)] : undefined;
  if (runner && !(await runningStep(job.id)).finished) {
    runner.kill('SIGKILL');
    fault = `SIGKILL during ${(await runningStep(job.id)).step ?? target}`;
    await until('the worker to die', () => runner.signalCode === 'SIGKILL', 5000);
    expect((await hv.getDomain(name)).uuid, fault).toBe(uuid);
    expect(existsSync(hv.paths(name).disk), fault).toBe(true);
    await stack.startWorker();
  }
  return { end: (await waitJob(stack, job.id, 120_000)) as unknown as JobBody, fault };
}

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 30_000, every = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`${what} not within ${ms} ms\n${stack.logs.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

const remoteProcesses = (needle: string) =>
  processTable()
    .split('\n')
    .filter((l) => l.includes(needle) && !l.includes('ps -eo'));

async function leftovers(name: string): Promise<string[]> {
  const out: string[] = [];
  if ((await hv.listDomains()).some((d) => d.name === name)) out.push('domain');
  const p = hv.paths(name);
  if (existsSync(p.disk)) out.push('disk');
  if (existsSync(`${p.disk}.part`)) out.push('disk.part');
  if (existsSync(p.seed)) out.push('seed');
  if (existsSync(p.console)) out.push('console log');
  if (remoteProcesses(name).length) out.push('process');
  return out;
}

async function deleteVm(name: string): Promise<void> {
  const r = await stack.fetch(`/v1/vms/r1/${name}`, { method: 'DELETE' });
  expect(r.status).toBe(202);
  expect((await waitJob(stack, ((await r.json()) as JobBody).id)).state).toBe('succeeded');
}

describe('chaos', () => {
  it(
    `1: SIGKILL a worker at a random step of a create, ${KILLS} times: every job succeeds, one domain each, nothing orphaned`,
    async () => {
      const names: string[] = [];
      for (let i = 0; i < KILLS; i++) {
        const started = Date.now();
        const target = CREATE_STEPS[Math.floor(Math.random() * CREATE_STEPS.length)] ?? 'fetch-image';
        const { name, job } = await createVm('ch1', fastImage);
        names.push(name);
        let fault = `no kill: the create ended before ${target}`;
        let seen: string | null = null;
        await until(
          `create ${job.id} to reach ${target}`,
          async () => {
            const s = await runningStep(job.id);
            seen = s.step ?? seen;
            return s.finished || (s.step !== null && CREATE_STEPS.indexOf(s.step) >= CREATE_STEPS.indexOf(target));
          },
          30_000,
          5,
        );
        const line = stack.logs.findLast((l) => l.includes(job.id) && l.includes('job started'));
        const runner = line ? stack.workers[Number(/^\[worker(\d+)\]/.exec(line)?.[1] ?? -1)] : undefined;
        if (runner && !(await runningStep(job.id)).finished) {
          runner.kill('SIGKILL');
          fault = `SIGKILL during ${(await runningStep(job.id)).step ?? seen ?? target}`;
          await until('the worker to die', () => runner.signalCode === 'SIGKILL', 5000);
          await stack.startWorker();
        }
        const end = (await waitJob(stack, job.id, 120_000)) as unknown as JobBody;
        rows.push({
          scenario: '1 SIGKILL worker',
          run: i + 1,
          fault,
          outcome: end.state,
          attempts: end.attempts,
          seconds: (Date.now() - started) / 1000,
          leftovers: [],
        });
        expect(end.state, fault).toBe('succeeded');
      }
      const domains = (await hv.listDomains()).map((d) => d.name);
      for (const name of names)
        expect(
          domains.filter((d) => d === name),
          name,
        ).toHaveLength(1);
      // Nothing on disk but each VM's own disk, seed and serial console log.
      const files = readdirSync(host.disks_dir).filter((f) => names.some((n) => f.startsWith(`${n}`)));
      expect(files.sort()).toEqual(names.flatMap((n) => [`${n}-seed.iso`, `${n}.console.log`, `${n}.qcow2`]).sort());
      for (const name of names) await deleteVm(name);
      for (const name of names) expect(await leftovers(name)).toEqual([]);
    },
    (KILLS * 15 + 60) * 1000,
  );

  it(
    '8: SIGKILL a worker at each step of a rebuild: the domain and a disk are there after every kill, the job succeeds on the new image',
    async () => {
      const steps = STEPS.rebuild;
      for (const [i, target] of steps.entries()) {
        const started = Date.now();
        const { name, job: created } = await createVm('ch8', fastImage);
        expect((await waitJob(stack, created.id, 60_000)).state).toBe('succeeded');
        const uuid = (await hv.getDomain(name)).uuid;
        // Graceful stop (the blank guest ignores it): the stop step lasts stop_timeout_ms, long enough to hit.
        const { end, fault } = await killDuring('rebuild', name, { image: otherImage }, steps, target, uuid);
        rows.push({
          scenario: '8 SIGKILL worker during rebuild',
          run: i + 1,
          fault,
          outcome: end.state,
          attempts: end.attempts,
          seconds: (Date.now() - started) / 1000,
          leftovers: [],
        });
        expect(end.state, `${fault}: ${JSON.stringify(end.error)}`).toBe('succeeded');
        const d = await hv.getDomain(name);
        expect(d.uuid).toBe(uuid);
        expect(d.image).toBe(otherImage);
        expect(d.state, fault).toBe('running');
        expect(existsSync(hv.paths(name).disk)).toBe(true);
        // Nothing of the rebuild left beside the VM's own files.
        expect(readdirSync(host.disks_dir).filter((f) => f.startsWith(`${name}.rebuild-`) || f.startsWith(`${name}-seed.rebuild-`))).toEqual([]);
        await deleteVm(name);
        expect(await leftovers(name)).toEqual([]);
      }
    },
    STEPS.rebuild.length * 60_000,
  );

  it(
    '9: SIGKILL a worker at each step of a resize: the domain and its disk are there after every kill, the job succeeds with the new sizes',
    async () => {
      const steps = STEPS.resize;
      for (const [i, target] of steps.entries()) {
        const started = Date.now();
        const { name, job: created } = await createVm('ch9', fastImage);
        expect((await waitJob(stack, created.id, 60_000)).state).toBe('succeeded');
        const uuid = (await hv.getDomain(name)).uuid;
        // tiny → small: memory 64 → 128 MiB, disk 256 → 512 MiB. The graceful stop of the blank guest lasts
        // stop_timeout_ms, long enough to hit; the resize and start steps are hit when the kill is quick enough.
        const { end, fault } = await killDuring('resize', name, { instance_type: 'small' }, steps, target, uuid);
        rows.push({
          scenario: '9 SIGKILL worker during resize',
          run: i + 1,
          fault,
          outcome: end.state,
          attempts: end.attempts,
          seconds: (Date.now() - started) / 1000,
          leftovers: [],
        });
        expect(end.state, `${fault}: ${JSON.stringify(end.error)}`).toBe('succeeded');
        // The host itself: same domain, running again (it ran before), the new sizes, its disk grown in place.
        const d = await hv.getDomain(name);
        expect(d.uuid).toBe(uuid);
        expect(d.state, fault).toBe('running');
        expect(d.instanceType).toBe('small');
        const info = execFileSync('virsh', ['-q', '-c', host.libvirt_uri, 'dominfo', name], { encoding: 'utf8' });
        expect(/^Max memory:\s+(\d+) KiB/m.exec(info)?.[1], fault).toBe(String(128 * 1024));
        expect(/^CPU\(s\):\s+(\d+)/m.exec(info)?.[1], fault).toBe('1');
        // Read as root: the running VM's disk is QEMU's (0600) while it runs.
        const img = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', hv.paths(name).disk], { encoding: 'utf8' })) as Record<string, number>;
        expect(img['virtual-size'], fault).toBe(512 * 1024 * 1024);
        await deleteVm(name);
        expect(await leftovers(name)).toEqual([]);
      }
    },
    STEPS.resize.length * 60_000,
  );

  it(
    `3: kill the SSH session on the host mid-command, ${CUTS} times: retried on a new connection, succeeds`,
    async () => {
      for (let i = 0; i < CUTS; i++) {
        const started = Date.now();
        const { name, job } = await createVm('ch3', slowImages[i] ?? '');
        await until(
          'the download to run on the host',
          async () => (await runningStep(job.id)).step === 'fetch-image' && remoteProcesses(slow.url('slow.qcow2')).length > 0,
        );
        const killed = sshd.killSessions();
        expect(killed).toBeGreaterThan(0);
        const end = (await waitJob(stack, job.id, 120_000)) as unknown as JobBody;
        const cut = stack.logs.some((l) => l.includes(job.id) && l.includes('job attempt failed') && l.includes('CONNECTION'));
        rows.push({
          scenario: '3 kill SSH session',
          run: i + 1,
          fault: `${killed} sshd session processes killed during fetch-image`,
          outcome: end.state,
          attempts: end.attempts,
          seconds: (Date.now() - started) / 1000,
          leftovers: [],
        });
        expect(end.state).toBe('succeeded');
        expect(cut).toBe(true);
        expect((await hv.listDomains()).filter((d) => d.name === name)).toHaveLength(1);
        await deleteVm(name);
        expect(await leftovers(name)).toEqual([]);
      }
    },
    (CUTS * 20 + 30) * 1000,
  );

  it(
    `5: cancel at each step of a create (${CANCEL_ROUNDS} round(s)): no domain, disk, seed or remote process left`,
    async () => {
      for (let round = 0; round < CANCEL_ROUNDS; round++) {
        for (const step of CREATE_STEPS) {
          const started = Date.now();
          // The download is only slow on a fresh image name; the other steps follow a cached image.
          const image = step === 'fetch-image' ? (slowImages[CUTS + round] ?? '') : fastImage;
          const { name, job } = await createVm('ch5', image);
          let reached = false;
          await until(
            `create ${job.id} to reach ${step}`,
            async () => {
              const s = await runningStep(job.id);
              reached = s.step === step;
              return reached || s.finished || (s.step !== null && CREATE_STEPS.indexOf(s.step) > CREATE_STEPS.indexOf(step));
            },
            30_000,
            2,
          );
          const r = await stack.fetch(`/v1/jobs/${job.id}/cancel`, { method: 'POST' });
          const end = (await waitJob(stack, job.id, 60_000)) as unknown as JobBody;
          if (end.state === 'succeeded') {
            // The cancel came after the last step: it must say so, and the VM is simply deleted.
            expect(r.status).toBe(409);
            await deleteVm(name);
          } else {
            expect([200, 202]).toContain(r.status);
            expect(end.state).toBe('canceled');
          }
          await until('remote processes of the VM to end', () => remoteProcesses(name).length === 0, 5000);
          const left = await leftovers(name);
          rows.push({
            scenario: '5 cancel at a step',
            run: round + 1,
            fault: `cancel ${reached ? 'during' : 'after'} ${step}`,
            outcome: end.state,
            attempts: end.attempts,
            seconds: (Date.now() - started) / 1000,
            leftovers: left,
          });
          expect(left, `${step}: ${left.join(', ')}`).toEqual([]);
          if (step === 'fetch-image') expect(end.state).toBe('canceled');
        }
      }
      if (CANCEL_ROUNDS > 0) expect(remoteProcesses(slow.url('slow.qcow2'))).toEqual([]);
    },
    (CANCEL_ROUNDS * CREATE_STEPS.length * 10 + 30) * 1000,
  );

  it(
    `4: the host unreachable (its sshd stopped), ${CUTS} create(s): retried with backoff, then failed with a clear error, nothing half-made`,
    async () => {
      const port = sshd.port;
      // Down means down: the open connections (their session processes outlive the listener) go too.
      sshd.killSessions();
      await sshd.stop();
      try {
        for (let i = 0; i < CUTS; i++) {
          const started = Date.now();
          const { name, job } = await createVm('ch4', fastImage);
          const end = (await waitJob(stack, job.id, 60_000)) as unknown as JobBody & { error: { code: string; message: string } };
          rows.push({
            scenario: '4 host unreachable',
            run: i + 1,
            fault: 'sshd stopped before the create',
            outcome: `${end.state} (${end.error?.code})`,
            attempts: end.attempts,
            seconds: (Date.now() - started) / 1000,
            leftovers: await leftovers(name),
          });
          expect(end.state).toBe('failed');
          expect(end.error).toMatchObject({ code: 'CONNECTION' });
          // Clients see the configured host's name, never the address it is reached at.
          expect(end.error.message).toBe('cannot connect to r1/h1 (ECONNREFUSED)');
          expect(end.attempts).toBe(4);
          expect(await leftovers(name)).toEqual([]);
        }
      } finally {
        sshd = await startOwnSshd(port);
      }
      // Reachable again: the next create works.
      const { name, job } = await createVm('ch4', fastImage);
      expect((await waitJob(stack, job.id, 60_000)).state).toBe('succeeded');
      await deleteVm(name);
    },
    (CUTS * 20 + 60) * 1000,
  );

  it(
    `7: SIGTERM to the worker running a create, ${CUTS} time(s): the job finishes (or is handed back), never lost`,
    async () => {
      for (let i = 0; i < CUTS; i++) {
        const started = Date.now();
        const { name, job } = await createVm('ch7', slowImages[CUTS + CANCEL_ROUNDS + i] ?? fastImage);
        await until('the download to run', async () => (await runningStep(job.id)).step === 'fetch-image');
        const line = stack.logs.findLast((l) => l.includes(job.id) && l.includes('job started'));
        const runner = line ? stack.workers[Number(/^\[worker(\d+)\]/.exec(line)?.[1] ?? -1)] : undefined;
        expect(runner).toBeDefined();
        runner?.kill('SIGTERM');
        const end = (await waitJob(stack, job.id, 120_000)) as unknown as JobBody;
        await until('the worker to exit', () => runner?.exitCode !== null, 30_000);
        rows.push({
          scenario: '7 SIGTERM worker',
          run: i + 1,
          fault: `SIGTERM during fetch-image (worker exit ${runner?.exitCode})`,
          outcome: end.state,
          attempts: end.attempts,
          seconds: (Date.now() - started) / 1000,
          leftovers: [],
        });
        expect(end.state).toBe('succeeded');
        expect(runner?.exitCode).toBe(0);
        expect((await hv.listDomains()).filter((d) => d.name === name)).toHaveLength(1);
        await stack.startWorker();
        await deleteVm(name);
      }
    },
    (CUTS * 30 + 30) * 1000,
  );

  for (const mode of ['graceful', 'SIGKILL'] as const) {
    it(`2: restart Redis (${mode}) during a burst of ${BURST} creates: every accepted job ends, losses counted`, async () => {
      const started = Date.now();
      const accepted: Array<{ name: string; id: string }> = [];
      const refused: number[] = [];
      let slowest = 0;
      const submitOne = async () => {
        const name = uniqueName('ch2');
        made.push(name);
        const t0 = Date.now();
        const r = await stack
          .fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image: fastImage }) })
          .catch(() => null);
        slowest = Math.max(slowest, Date.now() - t0);
        if (r?.status === 202) accepted.push({ name, id: ((await r.json()) as JobBody).id });
        else refused.push(r?.status ?? 0);
      };
      // Spread the burst over about a second and restart Redis a third of the way in.
      const gap = Math.max(5, Math.floor(1000 / BURST));
      const burst = Promise.all(Array.from({ length: BURST }, (_, i) => new Promise((r) => setTimeout(r, i * gap)).then(submitOne)));
      await new Promise((r) => setTimeout(r, (BURST * gap) / 3));
      const port = redisSvc.port;
      if (mode === 'graceful') await redisSvc.stop();
      else {
        redisSvc.process.kill('SIGKILL');
        await until('redis to die', () => redisSvc.process.signalCode === 'SIGKILL', 5000);
      }
      redisSvc = await startOwnRedis(port, { dir: redisDir });
      await burst;

      // Every accepted job ends; a job Redis lost answers 404 for good (after the stack has reconnected).
      const lost: string[] = [];
      const outcomes = new Map<string, number>();
      for (const a of accepted) {
        let state = '';
        let missingSince = 0;
        await until(
          `job ${a.id} to end`,
          async () => {
            const r = await stack.fetch(`/v1/jobs/${a.id}`).catch(() => null);
            if (r?.status === 404) {
              missingSince ||= Date.now();
              return Date.now() - missingSince > 5000;
            }
            missingSince = 0;
            state = r?.status === 200 ? ((await r.json()) as JobBody).state : '';
            return ['succeeded', 'failed', 'canceled'].includes(state);
          },
          180_000,
          200,
        );
        if (!state || !['succeeded', 'failed', 'canceled'].includes(state)) lost.push(a.name);
        else outcomes.set(state, (outcomes.get(state) ?? 0) + 1);
      }
      // A VM made by a job Redis lost would be one no job accounts for: count them.
      const domains = new Set((await hv.listDomains()).map((d) => d.name));
      const orphans = lost.filter((n) => domains.has(n));
      rows.push({
        scenario: `2 Redis restart (${mode})`,
        run: 1,
        fault: `${BURST} creates, ${accepted.length} accepted, ${refused.length} refused (${[...new Set(refused)].join('/') || '-'}), slowest answer ${slowest} ms`,
        outcome: [...outcomes].map(([k, v]) => `${k}: ${v}`).join(', ') + (lost.length ? `, lost: ${lost.length}` : ''),
        attempts: 0,
        seconds: (Date.now() - started) / 1000,
        leftovers: orphans.map((n) => `orphan domain ${n}`),
      });
      try {
        // Refusals are 503s while Redis is away (or 409 when the host is full), never a hang; nothing
        // accepted is lost on a graceful restart.
        expect(refused.filter((st) => st !== 503 && st !== 409)).toEqual([]);
        expect(slowest).toBeLessThan(10_000);
        if (mode === 'graceful') expect(lost).toEqual([]);
        expect(accepted.length).toBeGreaterThan(0);
      } finally {
        // Through the API, so the inventory (and placement) forgets them too; what Redis lost, directly.
        await Promise.all(
          accepted.map(async (a) => {
            const r = await stack.fetch(`/v1/vms/r1/${a.name}`, { method: 'DELETE' });
            if (r.status === 202) await waitJob(stack, ((await r.json()) as JobBody).id, 120_000);
            await hv.undefine(a.name).catch(() => undefined);
          }),
        );
      }
    }, 300_000);
  }

  it(`6: replay storms with Idempotency-Key, and about 200 hostile inputs: all 4xx, nothing queued, nothing executed`, async () => {
    const started = Date.now();
    // Replay storms: STORM identical requests at once per key make one job; another body with the key is 422.
    const STORM = Math.max(10, COUNT * 2);
    const stormNames: string[] = [];
    for (let k = 0; k < 3; k++) {
      const name = uniqueName('ch6');
      made.push(name);
      stormNames.push(name);
      const key = `storm-${name}`;
      const body = JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image: fastImage });
      const answers = await Promise.all(
        Array.from({ length: STORM }, () => stack.fetch('/v1/vms', { method: 'POST', body, headers: { 'Idempotency-Key': key } })),
      );
      expect(answers.map((r) => r.status)).toEqual(answers.map(() => 202));
      const ids = new Set(await Promise.all(answers.map(async (r) => ((await r.json()) as JobBody).id)));
      expect(ids.size).toBe(1);
      const other = await stack.fetch('/v1/vms', { method: 'POST', body: body.replace(name, `${name}x`), headers: { 'Idempotency-Key': key } });
      expect(other.status).toBe(422);
      expect((await waitJob(stack, [...ids][0] ?? '', 60_000)).state).toBe('succeeded');
    }
    const domains = (await hv.listDomains()).map((d) => d.name);
    for (const n of stormNames) expect(domains.filter((d) => d === n)).toHaveLength(1);
    rows.push({
      scenario: '6 replay storm',
      run: 1,
      fault: `3 keys × ${STORM} identical concurrent creates, + another body per key`,
      outcome: 'one job and one domain per key; other body 422',
      attempts: 0,
      seconds: (Date.now() - started) / 1000,
      leftovers: [],
    });

    // Hostile inputs. The canary is what a shell would create if any of them were ever run as a command.
    const hostileStart = Date.now();
    const canary = `/tmp/prov-canary-${uniqueName('c')}`;
    const payloads = [
      ...HOSTILE,
      `$(touch ${canary})`,
      `\`touch ${canary}\``,
      `; touch ${canary}`,
      `| touch ${canary}`,
      `&& touch ${canary}`,
      `\ntouch ${canary}`,
      `x'; touch ${canary}; echo '`,
    ];
    type Case = { label: string; method: string; path: string; body?: string; headers?: Record<string, string>; token?: string | null };
    const good = { vm_name: 'ok-name', region_name: 'r1', instance_type: 'tiny', image: fastImage };
    const cases: Case[] = [];
    for (const p of payloads) {
      const j = (o: Record<string, unknown>) => JSON.stringify(o);
      cases.push(
        { label: `create vm_name ${JSON.stringify(p)}`, method: 'POST', path: '/v1/vms', body: j({ ...good, vm_name: p }) },
        { label: `legacy create vm_name ${JSON.stringify(p)}`, method: 'POST', path: '/v1/create', body: j({ ...good, vm_name: p }) },
        { label: `start path ${JSON.stringify(p)}`, method: 'POST', path: `/v1/vms/r1/${encodeURIComponent(p)}/start` },
        { label: `legacy start ${JSON.stringify(p)}`, method: 'POST', path: '/v1/start', body: j({ vm_name: p, region_name: 'r1' }) },
        { label: `region ${JSON.stringify(p)}`, method: 'POST', path: '/v1/vms', body: j({ ...good, region_name: p }) },
        { label: `image ${JSON.stringify(p)}`, method: 'POST', path: '/v1/vms', body: j({ ...good, image: p }) },
        { label: `instance type ${JSON.stringify(p)}`, method: 'POST', path: '/v1/vms', body: j({ ...good, instance_type: p }) },
      );
      // Tag values with control characters or code points XML cannot hold, on every route that takes tags.
      if (!isTagValue(p))
        cases.push(
          { label: `tag value ${JSON.stringify(p)}`, method: 'POST', path: '/v1/vms', body: j({ ...good, tags: { t: p } }) },
          { label: `legacy create tag value ${JSON.stringify(p)}`, method: 'POST', path: '/v1/create', body: j({ ...good, tags: { t: p } }) },
          { label: `put tags value ${JSON.stringify(p)}`, method: 'PUT', path: '/v1/vms/r1/ok-name/tags', body: j({ tags: { t: p } }) },
          {
            label: `legacy edit-tags value ${JSON.stringify(p)}`,
            method: 'POST',
            path: '/v1/edit-tags',
            body: j({ vm_name: 'ok-name', region_name: 'r1', tags: { t: p } }),
          },
        );
    }
    for (const t of [-1, 0, 1e12, 'abc', 1.5, Number.MAX_SAFE_INTEGER * 8]) {
      cases.push({ label: `stop timeout_ms ${t}`, method: 'POST', path: '/v1/vms/r1/ok-name/stop', body: JSON.stringify({ timeout_ms: t }) });
    }
    for (const [label, body] of [
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1')],
      ['UTF-16 JSON', Buffer.from(JSON.stringify(good), 'utf16le').toString('latin1')],
      ['a JSON array', '[]'],
      ['JSON null', 'null'],
      ['a JSON string', '"vm"'],
      ['deeply nested JSON', `${'['.repeat(20_000)}${']'.repeat(20_000)}`],
      ['user_data not base64', JSON.stringify({ ...good, user_data: '$(id)' })],
      ['tag key with a space', JSON.stringify({ ...good, tags: { 'a b': 'x' } })],
      ['too many tags', JSON.stringify({ ...good, tags: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, 'v'])) })],
    ] as const) {
      cases.push({ label, method: 'POST', path: '/v1/vms', body });
    }
    for (const key of ['has space', 'x'.repeat(256), 'tab\there']) {
      cases.push({
        label: `Idempotency-Key ${JSON.stringify(key).slice(0, 20)}`,
        method: 'POST',
        path: '/v1/vms',
        body: JSON.stringify(good),
        headers: { 'Idempotency-Key': key },
      });
    }
    for (const auth of [`Bearer $(touch ${canary})`, `; touch ${canary}`, 'Bearer', `Basic ${Buffer.from('a:b').toString('base64')}`, 'x'.repeat(4096)]) {
      cases.push({
        label: `Authorization ${JSON.stringify(auth).slice(0, 24)}`,
        method: 'POST',
        path: '/v1/vms',
        body: JSON.stringify(good),
        headers: { authorization: auth },
      });
    }
    const jobsBefore = (await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed'])).filter((j) => j.name !== 'refresh').length;
    const wrong: string[] = [];
    for (const c of cases) {
      const r = await stack
        .fetch(c.path, { method: c.method, body: c.body, headers: c.headers, token: c.headers?.authorization ? null : undefined })
        .catch((e: unknown) => ({ status: -1, text: async () => String(e) }));
      const text = await r.text();
      // Refused with 4xx, and never a stack trace in the answer.
      if (r.status < 400 || r.status >= 500 || /at .*\.ts:\d+/.test(text)) wrong.push(`${c.label}: ${r.status}`);
    }
    const jobsAfter = (await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed'])).filter((j) => j.name !== 'refresh').length;

    // Valid but hostile tag values and user-data do reach the host, as data only.
    const name = uniqueName('ch6t');
    made.push(name);
    const tags = Object.fromEntries(payloads.filter((p) => p !== '' && isTagValue(p)).map((p, i) => [`t${i}`, p]));
    const userData = Buffer.from(`#cloud-config\nruncmd:\n  - touch ${canary}\n`).toString('base64');
    const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ ...good, vm_name: name, tags, user_data: userData }) });
    expect(r.status).toBe(202);
    expect((await waitJob(stack, ((await r.json()) as JobBody).id, 60_000)).state).toBe('succeeded');
    expect((await hv.getDomain(name)).tags).toEqual(tags);

    rows.push({
      scenario: '6 hostile inputs',
      run: 1,
      fault: `${cases.length} hostile requests (names, sizes, encodings, headers) + one create with hostile tag values`,
      outcome: `${cases.length - wrong.length} answered 4xx${wrong.length ? `, ${wrong.length} not: ${wrong.join('; ')}` : ''}; canary ${existsSync(canary) ? 'CREATED' : 'absent'}`,
      attempts: 0,
      seconds: (Date.now() - hostileStart) / 1000,
      leftovers: existsSync(canary) ? ['canary file'] : [],
    });
    expect(wrong).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(200);
    expect(jobsAfter).toBe(jobsBefore);
    expect(existsSync(canary)).toBe(false);
    for (const n of [...stormNames, name]) await deleteVm(n);
  }, 300_000);
});

/** Replaces the generated part of RELIABILITY.md (between its markers) with this run's results. */
/** Replaces the generated part of RELIABILITY.md (between its markers) with this run's results. */
function writeReport(path: string): void {
  replaceMarked(path, 'chaos', [runLine(COUNT), '', ...runTables(rows)]);
}
