/**
 * Row 9: real guests. For each create of the test guest image (scripts/build-guest-image.sh) with
 * `wait_until: "ready"`, the time the service adds to the guest's boot: cloud-init finished in the guest →
 * the create job succeeded (its `finished_at`). And create → ready against a bare `virsh start` → cloud-init
 * finished of the same image, same domain XML (the library's: seed on virtio, agent channel, console log),
 * same vCPUs and memory, interleaved with the service's creates so that both share the machine's noise.
 *
 * When cloud-init finished, on the host's clock (see bench/cloud-init-time.ts):
 * - fine: the modification time of /var/lib/cloud/instance/boot-finished (written by cloud-init's
 *   final_message module right after it prints the "finished" line; nanoseconds, the guest's clock), read
 *   through the guest agent and moved to the host's clock by the guest clock's offset, itself measured
 *   through the agent (guest-get-time bracketed by the host's clock; error ≤ half the shortest round trip).
 *   The guest's clock is set from the emulated RTC at boot, which has whole seconds: it can be up to 1 s off.
 * - coarse: the "finished" line's own timestamp (whole seconds, the guest's clock, no offset applied).
 * - seen: when the bench, polling the console log file every 100 ms, first saw that line (host clock).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Hypervisor } from '@provisioner/libvirt';
import { agent, buildGuestImage, guestExec, guestUserData, makeKeyPair, serveGuestImage } from '../../test/support/guest.ts';
import { hypervisorOptions, uniqueName } from '../../test/support/host.ts';
import { type Stack, startStack } from '../../test/support/stack.ts';
import { type ClockSample, type CloudInitFinished, clockOffset, parseCloudInitFinished } from '../cloud-init-time.ts';
import { type BenchContext, cacheListing, type Figure, fmt, type JobEnd, median, type Row, sh, span, waitEnd } from '../lib.ts';

const VCPUS = 2;
const MEMORY_MIB = 1024;
const STORAGE_MB = 4096;
const BOOT_BUDGET_MS = 600_000;
const BOOT_FINISHED = '/var/lib/cloud/instance/boot-finished';
const RESULT_JSON = '/run/cloud-init/result.json';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls a console log file (as root, like the bench) until cloud-init's "finished" line shows up. */
function watchConsole(path: string): { done: Promise<{ line: CloudInitFinished; seenMs: number }>; stop(): void } {
  let stopped = false;
  const done = (async () => {
    const end = Date.now() + BOOT_BUDGET_MS;
    while (!stopped && Date.now() < end) {
      let text = '';
      try {
        text = readFileSync(path, 'latin1');
      } catch {
        // Not made yet (the domain has not started).
      }
      const line = parseCloudInitFinished(text);
      if (line) return { line, seenMs: Date.now() };
      await sleep(100);
    }
    // The console's end says where the guest got stuck (the VM is removed right after).
    let tail = '';
    try {
      tail = readFileSync(path, 'latin1').slice(-600).replace(/\r/g, '');
    } catch {
      tail = '(no console log)';
    }
    throw new Error(
      `no cloud-init "finished" line in ${path}${stopped ? ' (stopped)' : ` within ${BOOT_BUDGET_MS / 1000} s`}; the console ends: ${JSON.stringify(tail)}`,
    );
  })();
  done.catch(() => undefined);
  return {
    done,
    stop: () => {
      stopped = true;
    },
  };
}

interface Finish {
  coarse: CloudInitFinished;
  seenMs: number;
  /** boot-finished's mtime on the host's clock. */
  fineMs: number;
  /** result.json's mtime on the host's clock (cloud-init's very last write). */
  resultMs: number;
  offsetMs: number;
  uncertaintyMs: number;
}

/** When cloud-init finished in `vm`, on the host's clock (see the file's comment). */
async function finishTime(uri: string, vm: string, seen: { line: CloudInitFinished; seenMs: number }): Promise<Finish> {
  const samples: ClockSample[] = [];
  for (let i = 0; i < 5; i++) {
    const hostBeforeMs = Date.now();
    const ns = await agent<number>(uri, vm, 'guest-get-time');
    samples.push({ hostBeforeMs, hostAfterMs: Date.now(), guestMs: ns / 1e6 });
  }
  const { offsetMs, uncertaintyMs } = clockOffset(samples);
  const st = await guestExec(uri, vm, ['stat', '-c', '%.9Y', BOOT_FINISHED, RESULT_JSON]);
  const [fin, res] = st.stdout.trim().split('\n').map(Number);
  if (st.code !== 0 || !fin || !res) throw new Error(`stat in ${vm}: ${st.code} ${st.stdout} ${st.stderr}`);
  return { coarse: seen.line, seenMs: seen.seenMs, fineMs: fin * 1000 - offsetMs, resultMs: res * 1000 - offsetMs, offsetMs, uncertaintyMs };
}

interface ServiceRun {
  name: string;
  job: JobEnd;
  finish: Finish;
  /** When the service said the guest is ready: the job's finished_at, or (fallback) the VM view's. */
  readyMs: number;
  how: 'wait-ready' | 'view';
}

/**
 * Fallback while the create has no wait-ready step: when the VM view first says `guest.ready` (its
 * `ready_at` when it has one, else when this poll saw it), polling every 250 ms.
 */
async function viewReady(stack: Stack, name: string): Promise<number> {
  const end = Date.now() + BOOT_BUDGET_MS;
  while (Date.now() < end) {
    const r = await stack.fetch(`/v1/vms/r1/${name}`);
    const v = r.status === 200 ? ((await r.json()) as { guest?: { ready?: boolean; ready_at?: string | null } }) : {};
    if (v.guest?.ready) return v.guest.ready_at ? Date.parse(v.guest.ready_at) : Date.now();
    await sleep(250);
  }
  throw new Error(`the view of ${name} never said ready`);
}

async function serviceCreate(stack: Stack, uri: string, consolePath: string, body: Record<string, unknown>): Promise<ServiceRun> {
  const name = String(body.vm_name);
  const watch = watchConsole(consolePath);
  try {
    const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ region_name: 'r1', ...body }) });
    if (r.status !== 202) throw new Error(`create ${name}: HTTP ${r.status} ${await r.text()}`);
    const job = await waitEnd(stack, ((await r.json()) as { id: string }).id);
    if (job.state !== 'succeeded') throw new Error(`create ${name} ended ${job.state}: ${job.error?.message}`);
    if (job.steps.some((s) => s.name === 'wait-ready')) {
      return { name, job, finish: await finishTime(uri, name, await watch.done), readyMs: Date.parse(job.finished_at ?? ''), how: 'wait-ready' };
    }
    const readyMs = await viewReady(stack, name);
    return { name, job, finish: await finishTime(uri, name, await watch.done), readyMs, how: 'view' };
  } finally {
    watch.stop();
  }
}

/** The same guest without the service: disk, seed and domain made with the library, then a plain `virsh start`. */
async function bareBoot(hv: Hypervisor, uri: string, name: string, basePath: string, userData: string): Promise<{ startMs: number; finish: Finish }> {
  const { path: diskPath } = await hv.createDisk(name, basePath, STORAGE_MB * 2 ** 20);
  const { path: seedPath } = await hv.createSeed(name, `bench-${name}`, userData);
  await hv.defineDomain({ name, instanceId: `bench-${name}`, vcpus: VCPUS, memoryMiB: MEMORY_MIB, diskPath, seedPath, tags: {} });
  const log = hv.paths(name).console;
  const watch = watchConsole(log);
  try {
    // As the automation user, who owns the console log (virtlogd would make it root's otherwise).
    const startMs = Date.now();
    await hv.ssh.run(['sh', '-c', '(umask 027 && : >"$1") && virsh -q -c "$2" start "$3" >/dev/null', 'bare-start', log, uri, name]);
    return { startMs, finish: await finishTime(uri, name, await watch.done) };
  } finally {
    watch.stop();
  }
}

/** Removes the cache entries the row added, but none that a disk on the host still has as its backing file. */
function removeOwnCacheEntries(imagesDir: string, disksDir: string, before: Set<string>): string[] {
  const backing = sh(
    'for d in "$1"/*.qcow2; do [ -f "$d" ] && qemu-img info -U --output=json "$d" 2>/dev/null | sed -n \'s/.*"backing-filename": "\\(.*\\)".*/\\1/p\'; done; true',
    disksDir,
  );
  const kept: string[] = [];
  for (const f of cacheListing(imagesDir)) {
    if (before.has(f)) continue;
    if (backing.includes(f.replace(/^\.\//, ''))) kept.push(f);
    else sh('rm -f -- "$1/$2"', imagesDir, f);
  }
  return kept;
}

async function run(ctx: BenchContext) {
  const n = ctx.quick ? 1 : 5;
  const uri = ctx.host.libvirt_uri;
  const image = buildGuestImage();
  const served = await serveGuestImage(image);
  const tag = uniqueName('b9').slice(3);
  const imageName = `bench-guest-${tag}`;
  const stack = await startStack({
    host: ctx.host,
    images: { [imageName]: { url: served.url, sha256: served.sha256 } },
    instanceTypes: [{ instance_type: 'guest', vcpus: VCPUS, memory_mb: MEMORY_MIB, storage_mb: STORAGE_MB }],
    h1: { network: 'network:default' },
  });
  const hv = new Hypervisor({ ...hypervisorOptions(ctx.host), network: { type: 'network', name: 'default' } });
  const cacheBefore = cacheListing(ctx.host.images_dir);
  const keys = makeKeyPair();
  const userData = guestUserData(randomBytes(8).toString('hex'), keys.publicKey);
  const made: string[] = [];
  const ours: ServiceRun[] = [];
  const bare: Array<{ name: string; startMs: number; finish: Finish }> = [];
  let keptCache: string[] = [];
  try {
    // The image is cached before the first create, so that every create and bare boot starts alike.
    ctx.log('row 9: caching the guest image on the host');
    const base = await hv.ensureImage({ name: imageName, url: served.url, sha256: served.sha256 });
    for (let i = 0; i < n; i++) {
      const name = `b9-${tag}-svc${i}`;
      made.push(name);
      ctx.log(`row 9: service create ${i + 1}/${n} (${name}), wait_until ready`);
      const s = await serviceCreate(stack, uri, hv.paths(name).console, {
        vm_name: name,
        image: imageName,
        instance_type: 'guest',
        user_data: Buffer.from(userData).toString('base64'),
        wait_until: 'ready',
      });
      ours.push(s);
      ctx.log(`row 9:   cloud-init finished → ready (${s.how}) ${fmt(s.readyMs - s.finish.fineMs)}`);
      await hv.undefine(name);
      const b = `b9-${tag}-bare${i}`;
      made.push(b);
      ctx.log(`row 9: bare virsh start ${i + 1}/${n} (${b})`);
      bare.push({ name: b, ...(await bareBoot(hv, uri, b, base.path, userData)) });
      await hv.undefine(b);
    }
  } finally {
    for (const name of made) await hv.undefine(name).catch(() => undefined);
    await stack.stop();
    keptCache = removeOwnCacheEntries(ctx.host.images_dir, ctx.host.disks_dir, cacheBefore);
    // The cache's record of which versions the row's image name had (a directory of its own, one level
    // deeper than cacheListing looks); the name is this run's alone.
    sh('rm -rf -- "$1/versions/$2"', ctx.host.images_dir, imageName);
    await hv.close();
    await served.server.close();
    execFileSync('rm', ['-rf', '--', keys.privateKeyPath.replace(/\/[^/]+$/, '')]);
  }

  const end = (s: ServiceRun) => s.readyMs;
  const gapFine = ours.map((s) => end(s) - s.finish.fineMs);
  const gapCoarse = ours.map((s) => end(s) - s.finish.coarse.atMs);
  const gapSeen = ours.map((s) => end(s) - s.finish.seenMs);
  const gapResult = ours.map((s) => end(s) - s.finish.resultMs);
  const createReady = ours.map((s) => s.readyMs - Date.parse(s.job.created_at));
  const createFinished = ours.map((s) => s.finish.fineMs - Date.parse(s.job.created_at));
  const bareFinished = bare.map((b) => b.finish.fineMs - b.startMs);
  const waitStep = ours.map((s) => {
    const w = s.job.steps.find((x) => x.name === 'wait-ready');
    return span(w?.started_at ?? null, w?.finished_at ?? null);
  });
  const beforeBoot = ours.map((s) => span(s.job.created_at, s.job.steps.find((x) => x.name === 'start')?.finished_at ?? null));
  const figures: Figure[] = [
    { what: 'cloud-init finished (boot-finished mtime, host clock) → create job finished_at', samples: gapFine, unit: 'ms' },
    { what: 'cloud-init finished (its console line’s own timestamp, whole seconds, guest clock) → finished_at', samples: gapCoarse, unit: 'ms' },
    { what: 'the bench saw the console line (polled every 100 ms) → finished_at', samples: gapSeen, unit: 'ms' },
    { what: 'cloud-init’s last write (result.json mtime, host clock) → finished_at', samples: gapResult, unit: 'ms' },
    { what: 'ours: create submitted → succeeded (ready), created_at → finished_at', samples: createReady, unit: 'ms' },
    { what: 'ours: create submitted → cloud-init finished (fine)', samples: createFinished, unit: 'ms' },
    { what: 'ours: create submitted → start step done (the service’s part before the guest boots)', samples: beforeBoot, unit: 'ms' },
    { what: 'ours: the guest’s uptime at the “finished” line (its Up N seconds)', samples: ours.map((s) => s.finish.coarse.uptimeS * 1000), unit: 'ms' },
    ...(waitStep.some((t) => !Number.isNaN(t)) ? [{ what: 'ours: the wait-ready step', samples: waitStep, unit: 'ms' }] : []),
    { what: 'bare: virsh start → cloud-init finished (fine), same image and XML', samples: bareFinished, unit: 'ms' },
    { what: 'bare: the guest’s uptime at the “finished” line', samples: bare.map((b) => b.finish.coarse.uptimeS * 1000), unit: 'ms' },
    // What is not the guest's own boot (which swings with the machine's load): the service's steps, the wait, firmware.
    {
      what: 'ours: create → ready minus the guest’s uptime at the line',
      samples: ours.map((s, i) => (createReady[i] as number) - s.finish.coarse.uptimeS * 1000),
      unit: 'ms',
    },
    {
      what: 'bare: virsh start → cloud-init finished minus the guest’s uptime at the line',
      samples: bare.map((b, i) => (bareFinished[i] as number) - b.finish.coarse.uptimeS * 1000),
      unit: 'ms',
    },
  ];
  const p50 = median(gapFine);
  const perCreate = ours.map(
    (s, i) =>
      `${s.name}: finished_at − boot-finished ${fmt(gapFine[i] as number)}, − console line ${fmt(gapCoarse[i] as number)} ` +
      `(“finished at ${new Date(s.finish.coarse.atMs).toISOString().slice(11, 19)}”, Up ${s.finish.coarse.uptimeS} s), − seen ${fmt(gapSeen[i] as number)}, ` +
      `− result.json ${fmt(gapResult[i] as number)}; create → ready ${fmt(createReady[i] as number)}; guest clock ${s.finish.offsetMs >= 0 ? '+' : ''}${s.finish.offsetMs.toFixed(0)} ms ` +
      `(± ${s.finish.uncertaintyMs.toFixed(0)} ms)`,
  );
  const perBare = bare.map(
    (b, i) =>
      `${b.name}: virsh start → cloud-init finished ${fmt(bareFinished[i] as number)} (Up ${b.finish.coarse.uptimeS} s at the line; guest clock ${b.finish.offsetMs >= 0 ? '+' : ''}${b.finish.offsetMs.toFixed(0)} ms ± ${b.finish.uncertaintyMs.toFixed(0)} ms)`,
  );
  return {
    row: 9,
    title: 'real guest: cloud-init finished → create succeeded (wait_until ready), vs a bare virsh start',
    figures,
    targets: [{ target: 'cloud-init finished → job succeeded, p50 ≤ 1 s', measured: `p50 ${fmt(p50)} (n=${gapFine.length})`, met: p50 <= 1000 }],
    notes: [
      ours.every((s) => s.how === 'wait-ready')
        ? 'Ready = the create job (`wait_until: "ready"`) succeeded: its `finished_at`.'
        : 'FALLBACK: the create had no wait-ready step (`wait_until: "ready"` not implemented); "ready" is when the VM view first said `guest.ready` (its `ready_at`, else when a 250 ms poll saw it), and "finished_at" in the figures means that.',
      `Per create: ${perCreate.join('; ')}.`,
      `Bare boots: ${perBare.join('; ')}.`,
      `Context: create → ready p50 ${fmt(median(createReady))} (ours) vs virsh start → cloud-init finished p50 ${fmt(median(bareFinished))} (bare).`,
      ...(keptCache.length ? [`Cache entries left because another VM on the host uses them: ${keptCache.join(', ')}.`] : []),
    ],
  };
}

export const row: Row = { row: 9, title: 'real guest: cloud-init finished → create succeeded (wait_until ready), vs a bare virsh start', run };
