/**
 * Fault scenario 14 of issue 29: a Redis failover during a burst of creates. A Sentinel set-up of the test's
 * own (master, replica, three sentinels on spare ports; the machine's Redis is never touched), an API and two
 * workers following it, and a hypervisor host of the file's own (the session libvirt of a user of its own,
 * behind an sshd of its own), so that every domain and disk on it is this file's. BURST creates go through the
 * real API, a few dozen in flight, and the master is failed over (SENTINEL FAILOVER) mid-burst. Half the
 * creates carry an Idempotency-Key and are retried with it after an error (a careful client), the other half
 * are sent once. Checked after each run: every create the API accepted (202) ended, succeeded or failed with
 * a reason, and ran once (one `job started` in the workers' logs, one attempt, one domain with the job's
 * instance id); every error answer carried a code, and a create sent once that got one left no VM, no job
 * and no reserved name; a retried create converged on one job; the host holds exactly the VMs that
 * succeeded, with their files and nothing else; Redis holds no pending create, no line of operations, and
 * a name record for each VM there is and for nothing else.
 * With CHAOS_REPORT set, its table goes into RELIABILITY.md (between its own markers).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostQueueName } from '@provisioner/contracts';
import { keys, scanKeys } from '@provisioner/store/testing';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { medianMax, replaceMarked, runLine } from '../support/chaos-report.ts';
import { type ImageServer, type LoopbackHost, makeHypervisor, ownSessionHost, startImageServer, uniqueName } from '../support/host.ts';
import { type RedisSetup, startSentinel } from '../support/redis-ha.ts';
import { type Stack, startStack } from '../support/stack.ts';

const COUNT = Math.max(1, Number(process.env.CHAOS_COUNT ?? 2));
/** Runs of the whole burst: one in `npm test`, two at `npm run chaos`'s count of 20. */
const RUNS = Math.max(1, Math.round(COUNT / 10));
/** Creates per run. */
const BURST = Number(process.env.FAILOVER_BURST ?? 500);
/** Requests in flight at once. */
const IN_FLIGHT = 32;
/** The host's operation limit: creates run this many at a time. */
const HOST_LIMIT = 8;
/** How often a careful client retries an error answer (same Idempotency-Key), and how long it waits between. */
const RETRIES = 40;
const RETRY_MS = 250;

let own: Awaited<ReturnType<typeof ownSessionHost>> | undefined;
let host: LoopbackHost;
let hv: ReturnType<typeof makeHypervisor>;
let images: ImageServer;
const image = uniqueName('fo');

type Row = { run: number; fault: string; answers: string; outcome: string; checks: string; seconds: number };
const rows: Row[] = [];

beforeAll(async () => {
  own = await ownSessionHost(inject('loopbackHost'), 'prov-failover');
  host = own.host;
  hv = makeHypervisor(host);
  // This session libvirt serves only this file: a run killed halfway may have left VMs of this file.
  await removeAll();
  images = await startImageServer(powerOffImage());
}, 300_000);

/**
 * A disk whose boot sector powers the guest off at once (ACPI: SLP_EN with the soft-off type written to
 * PIIX4's PM1a control register, at 0x604 and at SeaBIOS's 0xb004), so QEMU runs for a moment per VM
 * instead of 500 blank guests (about 45 MiB each) waiting at "No bootable device" for the whole burst.
 */
function powerOffImage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'prov-img-'));
  // mov dx,0x604; mov ax,0x2000; out dx,ax; mov dx,0xb004; out dx,ax; cli; hlt; jmp back to hlt
  const code = [0xba, 0x04, 0x06, 0xb8, 0x00, 0x20, 0xef, 0xba, 0x04, 0xb0, 0xef, 0xfa, 0xf4, 0xeb, 0xfd];
  const disk = Buffer.alloc(1 << 20);
  Buffer.from(code).copy(disk);
  disk.writeUInt16LE(0xaa55, 510);
  writeFileSync(join(dir, 'off.raw'), disk);
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', join(dir, 'off.raw'), join(dir, 'off.qcow2')]);
  rmSync(join(dir, 'off.raw'));
  return dir;
}

afterAll(async () => {
  await removeAll().catch(() => undefined);
  // The host is this file's own: its image cache and lock files go too.
  for (const dir of host ? [host.images_dir, host.disks_dir] : []) {
    for (const f of readdirSync(dir)) rmSync(join(dir, f), { recursive: true, force: true });
  }
  await images?.close();
  await hv?.close();
  await own?.stop();
  if (process.env.CHAOS_REPORT && rows.length) writeReport(process.env.CHAOS_REPORT);
});

/** Every domain of this file's host (its own session libvirt), and their files. */
async function removeAll(): Promise<void> {
  const names = (await hv.listDomains()).map((d) => d.name);
  for (let i = 0; i < names.length; i += 16) await Promise.all(names.slice(i, i + 16).map((n) => hv.undefine(n).catch(() => undefined)));
}

type Answer = { status: number; code: string | null; message?: string };
type Create = { name: string; key: string | null; answers: Answer[]; id: string | null };

/** A create through the API; with a key, error answers are retried with the same key (a careful client). */
async function submit(stack: Stack, c: Create): Promise<void> {
  const body = JSON.stringify({ vm_name: c.name, region_name: 'r1', instance_type: 'micro', image });
  for (let i = 0; i < (c.key ? RETRIES : 1); i++) {
    const headers: Record<string, string> = c.key ? { 'idempotency-key': c.key } : {};
    const r = await stack.fetch('/v1/vms', { method: 'POST', body, headers }).catch(() => null);
    const text = r ? await r.text() : '';
    let json: { id?: string; error?: { code?: string; message?: string } } = {};
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      // not JSON: recorded as an answer without a code
    }
    c.answers.push({ status: r?.status ?? 0, code: json.error?.code ?? null, ...(json.error?.message ? { message: json.error.message } : {}) });
    if (r?.status === 202) {
      c.id = json.id ?? null;
      return;
    }
    await new Promise((res) => setTimeout(res, RETRY_MS));
  }
}

async function until(what: string, ok: () => Promise<boolean> | boolean, ms: number, every = 250): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** The worker log lines `job started` per job id. */
function startsPerJob(stack: Stack): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of stack.logs) {
    const m = /^\[worker\d+\] (\{.*\})$/.exec(l);
    if (!m?.[1] || !l.includes('"job started"')) continue;
    const j = JSON.parse(m[1]) as { job_id?: string };
    if (j.job_id) out.set(j.job_id, (out.get(j.job_id) ?? 0) + 1);
  }
  return out;
}

async function oneRun(run: number): Promise<void> {
  const started = Date.now();
  // As docker-compose.prod.yml runs them: a master without its replica refuses writes (docs/operations.md, "Redis Sentinel").
  // Sentinels take a master for down after 5 s, as in docker-compose.prod.yml: with 2 s, a loaded machine
  // (pings answered late) can make them fail the new master over again, which is not this scenario.
  const setup: RedisSetup = await startSentinel({
    sentinels: 3,
    downAfterMs: 5000,
    serverArgs: ['--min-replicas-to-write', '1', '--min-replicas-max-lag', '10'],
  });
  let stack: Stack | undefined;
  let redis: Redis | undefined;
  let queue: Queue | undefined;
  try {
    stack = await startStack({
      host,
      images: { [image]: { url: images.url('off.qcow2') } },
      workers: 2,
      maxConcurrent: HOST_LIMIT,
      redis: setup,
      // A type with a small disk: placement counts each VM's whole disk against the host's free space.
      instanceTypes: [{ instance_type: 'micro', vcpus: 1, memory_mb: 64, storage_mb: 16 }],
      extra: {
        placement: { cpu_allocation_ratio: 1000, memory_allocation_ratio: 100 },
        // The job lock as deployed (its default, 30 s): longer than the failover's pause in writes.
        worker: {
          port: 0,
          bind_address: '127.0.0.1',
          attempts: 3,
          backoff_ms: 300,
          stop_timeout_ms: 2000,
          inventory_refresh_ms: 60_000,
          lock_duration_ms: 30_000,
          stalled_interval_ms: 30_000,
        },
      },
    });
    const s = stack;
    redis = s.redis;
    queue = new Queue(hostQueueName('r1', 'h1'), { connection: redis, prefix: s.prefix });
    const creates: Create[] = Array.from({ length: BURST }, (_, i) => ({
      name: uniqueName('fo'),
      key: i % 2 === 0 ? randomBytes(12).toString('hex') : null,
      answers: [],
      id: null,
    }));
    // The burst: IN_FLIGHT requests at a time; the failover once a third of the creates were answered.
    let next = 0;
    let answered = 0;
    let failoverAt = -1;
    let failoverMs = 0;
    let failover: Promise<void> | null = null;
    const lane = async () => {
      for (let i = next++; i < creates.length; i = next++) {
        const c = creates[i] as Create;
        await submit(s, c);
        answered++;
        if (!failover && answered >= BURST / 3) {
          failoverAt = answered;
          const t0 = Date.now();
          failover = (setup.failover as () => Promise<void>)().then(() => {
            failoverMs = Date.now() - t0;
          });
        }
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    await failover;
    const burstS = (Date.now() - started) / 1000;

    // Every create job in the queue, by VM.
    const jobsByName = async () => {
      const out = new Map<string, string[]>();
      for (const j of await (queue as Queue).getJobs(['completed', 'failed', 'active', 'waiting', 'delayed', 'prioritized', 'paused', 'waiting-children'])) {
        if (j?.name !== 'create') continue;
        const n = (j.data as { vm_name: string }).vm_name;
        out.set(n, [...(out.get(n) ?? []), String(j.id)]);
      }
      return out;
    };
    // A create sent once whose request failed with no HTTP answer (a kept-alive connection closed as it went
    // out): the client does not know; if the API took it, its one job is followed like an accepted one.
    const unanswered = creates.filter((c) => !c.id && c.answers.at(-1)?.status === 0);
    const early = await jobsByName();
    for (const c of unanswered) if (early.get(c.name)?.length === 1) c.id = early.get(c.name)?.[0] ?? null;

    // Every accepted create ends (the workers follow the new master).
    const accepted = creates.filter((c) => c.id);
    const ids = accepted.map((c) => c.id as string);
    await until(
      'every accepted create to end',
      async () => {
        const c = await (queue as Queue).getJobCounts('completed', 'failed');
        return (c.completed ?? 0) + (c.failed ?? 0) >= ids.length;
      },
      240_000,
      1000,
    ).catch(() => undefined);
    // Each job's public view (succeeded, or failed with a reason).
    const views = new Map<string, { state: string; attempts: number; error: { code: string; message: string } | null }>();
    for (let i = 0; i < ids.length; i += IN_FLIGHT) {
      await Promise.all(
        ids.slice(i, i + IN_FLIGHT).map(async (id) => {
          const r = await s.fetch(`/v1/jobs/${id}`);
          views.set(id, r.status === 200 ? ((await r.json()) as never) : { state: `HTTP ${r.status}`, attempts: 0, error: null });
        }),
      );
    }
    const states = new Map<string, number>();
    for (const v of views.values()) states.set(v.state, (states.get(v.state) ?? 0) + 1);
    const starts = startsPerJob(s);
    const twice = ids.filter((id) => (starts.get(id) ?? 0) > 1);
    const lost = ids.filter((id) => views.get(id)?.state === 'HTTP 404');
    const notEnded = ids.filter((id) => !lost.includes(id) && !['succeeded', 'failed'].includes(views.get(id)?.state ?? ''));
    const failedNoReason = ids.filter((id) => views.get(id)?.state === 'failed' && !views.get(id)?.error?.code);
    const moreAttempts = ids.filter((id) => (views.get(id)?.attempts ?? 0) > 1);

    // Answers: an error answer always carries a code; a create sent once that got one left nothing.
    const errorAnswers = creates.flatMap((c) => c.answers.filter((a) => a.status !== 202 && a.status !== 0));
    const noAnswer = creates.flatMap((c) => c.answers.filter((a) => a.status === 0)).length;
    const noCode = errorAnswers.filter((a) => !a.code);
    // Error answers a client can act on: 503 (try again), or a keyed retry's 409 while its first request runs.
    const unexpected = errorAnswers.filter((a) => a.code !== 'UNAVAILABLE' && !(a.status === 409 && /still being processed/.test(a.message ?? '')));
    const refused = creates.filter((c) => !c.id);
    const keyed = creates.filter((c) => c.key);
    const retried = keyed.filter((c) => c.answers.length > 1);

    // One create job per accepted create, and none for one refused with an error answer.
    const byName = await jobsByName();
    const jobMismatch = creates.filter((c) => JSON.stringify(byName.get(c.name) ?? []) !== JSON.stringify(c.id ? [c.id] : []));

    // The host: exactly the VMs that succeeded, each its job's own domain with its three files.
    const succeeded = accepted.filter((c) => views.get(c.id as string)?.state === 'succeeded');
    const domains = await hv.listDomains();
    const want = new Map(succeeded.map((c) => [c.name, c.id]));
    const wrongDomains = domains.filter((d) => want.get(d.name) !== d.instanceId).map((d) => d.name);
    const missingDomains = succeeded.filter((c) => !domains.some((d) => d.name === c.name)).map((c) => c.name);
    const files = readdirSync(host.disks_dir).filter((f) => !f.startsWith('.'));
    const wantFiles = new Set(succeeded.flatMap((c) => [`${c.name}.qcow2`, `${c.name}-seed.iso`, `${c.name}.console.log`]));
    const strayFiles = files.filter((f) => !wantFiles.has(f));
    const missingFiles = [...wantFiles].filter((f) => !files.includes(f));

    // Redis: no pending create, no line of operations, a name record exactly for each VM there is.
    const p = s.prefix;
    const pending = await redis.hlen(keys.pendingCreates(p, 'r1', 'h1'));
    const totals = await redis.hgetall(keys.pendingTotals(p, 'r1', 'h1'));
    const lines = await scanKeys(redis, `${p}:vmops:*`);
    const nonEmptyLines: string[] = [];
    for (const k of lines) if ((await redis.zcard(k)) > 0) nonEmptyLines.push(k);
    const named = (await scanKeys(redis, keys.vmHost(p, 'r1', '*'))).map((k) => k.slice(keys.vmHost(p, 'r1', '').length));
    const wrongNames = [...named.filter((n) => !want.has(n)), ...[...want.keys()].filter((n) => !named.includes(n))];
    // Every job record points at a job that is there.
    const records = await scanKeys(redis, keys.jobQueue(p, '*'));
    const dangling: string[] = [];
    for (const k of records) {
      const id = k.slice(keys.jobQueue(p, '').length);
      if (!(await queue.getJob(id))) dangling.push(id);
    }

    const problems = {
      lost: lost.length,
      notEnded: notEnded.length,
      failedNoReason: failedNoReason.length,
      startedTwice: twice.length,
      moreAttempts: moreAttempts.length,
      errorWithoutCode: noCode.length,
      unexpectedAnswers: unexpected.length,
      jobMismatch: jobMismatch.length,
      wrongDomains: wrongDomains.length,
      missingDomains: missingDomains.length,
      strayFiles: strayFiles.length,
      missingFiles: missingFiles.length,
      pending,
      nonEmptyLines: nonEmptyLines.length,
      wrongNames: wrongNames.length,
      dangling: dangling.length,
    };
    const withdrawn = s.logs.filter((l) => l.includes('lost in a Redis failover')).length;
    // How many failovers there were (each raises the sentinels' config epoch): one, unless the load made
    // the sentinels take the new master for down too.
    const epoch = /config-epoch\n(\d+)/.exec(
      execFileSync('redis-cli', ['-p', String(setup.ports?.sentinels[0]), 'sentinel', 'master', 'mymaster'], { encoding: 'utf8' }),
    )?.[1];
    const statuses = new Map<string, number>();
    for (const a of errorAnswers) statuses.set(`${a.status} ${a.code}`, (statuses.get(`${a.status} ${a.code}`) ?? 0) + 1);
    rows.push({
      run,
      fault: `SENTINEL FAILOVER after ${failoverAt} of ${BURST} answers (promoted in ${failoverMs} ms); failovers in all: ${epoch}`,
      answers: `${accepted.length - unanswered.filter((c) => c.id).length} accepted, ${refused.length} refused${noAnswer ? ` (${noAnswer} requests closed without an answer)` : ''}; error answers: ${[...statuses].map(([k, v]) => `${k} ×${v}`).join(', ') || 'none'}; ${retried.length} keyed creates retried; ${withdrawn} withdrawn after the replica did not confirm them; all answered in ${burstS.toFixed(0)} s`,
      outcome: [...states].map(([k, v]) => `${k}: ${v}`).join(', '),
      checks:
        Object.entries(problems)
          .filter(([, v]) => v)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || 'all held',
      seconds: (Date.now() - started) / 1000,
    });
    // What failed, with examples, for the failure message (the service's logs of the jobs concerned too).
    const details = {
      unexpectedAnswers: unexpected.slice(0, 5),
      unconverged: keyed.filter((c) => !c.id).slice(0, 3),
      twice: twice.slice(0, 3).map((id) => s.logs.filter((l) => l.includes(id))),
      lost: lost.slice(0, 3),
      notEnded: notEnded.slice(0, 3).map((id) => [id, views.get(id)]),
      jobMismatch: jobMismatch.slice(0, 3),
      wrongDomains: wrongDomains.slice(0, 3),
      strayFiles: strayFiles.slice(0, 3),
      wrongNames: wrongNames.slice(0, 3),
      nonEmptyLines: nonEmptyLines.slice(0, 3),
      pendingTotals: totals,
      errors: s.logs.filter((l) => /"unhandled error"|lost in a Redis/.test(l)).slice(0, 5),
    };
    expect(problems, JSON.stringify(details, null, 1)).toEqual(Object.fromEntries(Object.keys(problems).map((k) => [k, 0])));
    // A careful client always got its create accepted in the end.
    expect(keyed.filter((c) => !c.id).map((c) => c.answers)).toEqual([]);
    expect(accepted.length).toBeGreaterThan(BURST / 2);
  } finally {
    await queue?.close();
    await stack?.stop();
    await setup.stop();
    await removeAll();
  }
}

describe('chaos, round 3: a Redis failover during a burst of creates', () => {
  it(
    `14: SENTINEL FAILOVER during a burst of ${BURST} creates, ${RUNS} time(s): every accepted create ends once, every answer stays true`,
    async () => {
      for (let i = 0; i < RUNS; i++) await oneRun(i + 1);
    },
    RUNS * 480_000,
  );
});

function writeReport(path: string): void {
  const lines = [runLine(COUNT), '', '| run | fault | answers | outcome | checks | seconds |', '| --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${r.run} | ${r.fault} | ${r.answers} | ${r.outcome} | ${r.checks} | ${r.seconds.toFixed(1)} |`);
  lines.push('', `Seconds per run (median / max): ${medianMax(rows.map((r) => r.seconds))}.`);
  replaceMarked(path, 'chaos-failover', lines);
}
