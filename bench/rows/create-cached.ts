/**
 * Row 1: create → domain running (job submitted → job succeeded) with the image already cached, 20 VMs
 * per image size, against the replaced service's sequence (full download, qemu-img resize,
 * virt-install --import --cloud-init --wait 0) at loopback speed and with the image server at 1 Gbit/s;
 * and against the floor: the same host commands (overlay, seed, define, start, read the domain back)
 * typed into one shell, run as one SSH exec on the pooled connection and as one local shell on the host.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDomainXml } from '../../packages/libvirt/src/index.ts';
import { makeHypervisor, startImageServer, uniqueName } from '../../test/support/host.ts';
import { startStack } from '../../test/support/stack.ts';
import { legacyCleanup, legacyCreate } from '../legacy.ts';
import { cacheListing, createVm, type Figure, fmt, makeBigImage, median, type Row, removeNewCacheEntries, span, timed } from '../lib.ts';

const GBIT = 125_000_000;

/** The floor: a create's host commands and nothing else (no checks, no step markers), as one would type them. */
const FLOOR = `set -e
uri=$1 n=$2 base=$3 disk=$4 size=$5 seed=$6 xml=$7
tmp=$(mktemp -d)
qemu-img create -q -f qcow2 -F qcow2 -b "$base" "$disk" "$size"
printf '#cloud-config\\n{}\\n' >"$tmp/user-data"
printf 'instance-id: %s\\nlocal-hostname: %s\\n' "$n" "$n" >"$tmp/meta-data"
genisoimage -quiet -output "$seed" -volid cidata -joliet -rock "$tmp/user-data" "$tmp/meta-data"
printf '%s' "$xml" >"$tmp/domain.xml"
virsh -q -c "$uri" define "$tmp/domain.xml" >/dev/null
virsh -q -c "$uri" start "$n" >/dev/null
virsh -q -c "$uri" dumpxml "$n" >/dev/null
rm -rf "$tmp"`;

export const row: Row = {
  row: 1,
  title: 'create → domain running, image already cached, vs the replaced service',
  async run(ctx) {
    const sizes = ctx.quick ? [64, 256] : [64, 2048, 4096];
    const legacySize = ctx.quick ? 256 : 2048;
    const n = ctx.quick ? 5 : 20;
    const legacyRuns = ctx.quick ? 1 : 3;
    const dir = mkdtempSync(join(tmpdir(), 'bench-img-'));
    for (const s of sizes) makeBigImage(dir, `img-${s}.qcow2`, s);
    const fast = await startImageServer(dir);
    const slow = await startImageServer(dir, { bytesPerSecond: GBIT });
    const tag = uniqueName('b1').slice(3);
    const imageName = (s: number) => `bench-${tag}-${s}m`;
    const stack = await startStack({
      host: ctx.host,
      images: Object.fromEntries(sizes.map((s) => [imageName(s), { url: fast.url(`img-${s}.qcow2`) }])),
      instanceTypes: [{ instance_type: 'bench', vcpus: 1, memory_mb: 64, storage_mb: 5120 }],
    });
    const hv = makeHypervisor(ctx.host);
    const cacheBefore = cacheListing(ctx.host.images_dir);
    const figures: Figure[] = [];
    const ours = new Map<number, number[]>();
    const floor = new Map<string, number[]>();
    const stepEnds: Awaited<ReturnType<typeof createVm>>[] = [];
    const notes: string[] = [];
    const floorN = ctx.quick ? 3 : 10;
    const made: string[] = [];
    try {
      for (const s of sizes) {
        ctx.log(`row 1: ${s} MiB image: warming the cache`);
        const warm = `b1-${tag}-w${s}`;
        made.push(warm);
        const w = await createVm(stack, { vm_name: warm, image: imageName(s), instance_type: 'bench' });
        if (w.state !== 'succeeded') throw new Error(`warm-up create failed: ${w.error?.message}`);
        const times: number[] = [];
        const names: string[] = [];
        for (let i = 0; i < n; i++) {
          const name = `b1-${tag}-${s}-${i}`;
          names.push(name);
          made.push(name);
          const end = await createVm(stack, { vm_name: name, image: imageName(s), instance_type: 'bench' });
          if (end.state !== 'succeeded') throw new Error(`create failed: ${end.error?.message}`);
          times.push(span(end.created_at, end.finished_at));
          stepEnds.push(end);
        }
        ours.set(s, times);
        figures.push({ what: `ours, ${s} MiB image cached: submitted → succeeded (${n} VMs, one after another)`, samples: times, unit: 'ms' });
        // Where the time goes: each step's own duration (from the job's steps), and the rest of the job.
        const ends = stepEnds.splice(0);
        for (const step of ['fetch-image', 'create-disk', 'create-seed', 'define', 'start']) {
          const d = ends.map((e) => e.steps.find((x) => x.name === step)).map((x) => span(x?.started_at ?? null, x?.finished_at ?? null));
          notes.push(`${s} MiB: step ${step} p50 ${fmt(median(d))}`);
        }
        notes.push(
          `${s} MiB: outside the steps (pickup, completion, inventory) p50 ${fmt(median(ends.map((e) => span(e.created_at, e.finished_at) - span(e.steps[0]?.started_at ?? null, e.steps.at(-1)?.finished_at ?? null))))}`,
        );
        // The floor, side by side: the same host commands in one shell, over one SSH exec and locally.
        const base = (await hv.ensureImage({ name: imageName(s), url: fast.url(`img-${s}.qcow2`) })).path;
        for (const where of ['one SSH exec', 'one local shell'] as const) {
          const fl: number[] = [];
          for (let i = 0; i < floorN; i++) {
            const name = `b1-${tag}-${s}-f${where === 'one SSH exec' ? 's' : 'l'}${i}`;
            made.push(name);
            const p = hv.paths(name);
            const xml = buildDomainXml({
              name,
              instanceId: name,
              vcpus: 1,
              memoryMiB: 64,
              diskPath: p.disk,
              seedPath: p.seed,
              consoleLogPath: null,
              network: { type: 'none' },
              domainType: ctx.host.kvm ? 'kvm' : 'qemu',
              tags: {},
            });
            const args = [ctx.host.libvirt_uri, name, base, p.disk, String(5120 * 1024 * 1024), p.seed, xml];
            const [ms] = await timed(async () => {
              if (where === 'one SSH exec') await hv.ssh.run(['sh', '-c', FLOOR, 'floor', ...args]);
              // As the automation user, like the SSH exec, without SSH.
              else execFileSync('runuser', ['-u', ctx.host.user, '--', 'sh', '-c', FLOOR, 'floor', ...args], { stdio: 'ignore' });
            });
            fl.push(ms);
            await hv.undefine(name);
          }
          floor.set(`${s} ${where}`, fl);
          figures.push({ what: `floor, ${s} MiB: the same host commands typed into ${where} (${floorN} VMs)`, samples: fl, unit: 'ms' });
        }
        for (const name of [warm, ...names]) await hv.undefine(name, {}).catch(() => undefined);
      }
      const legacy: Record<'loopback' | '1 Gbit/s', number[]> = { loopback: [], '1 Gbit/s': [] };
      const parts: string[] = [];
      for (const [speed, server] of [
        ['loopback', fast],
        ['1 Gbit/s', slow],
      ] as const) {
        for (let i = 0; i < legacyRuns; i++) {
          ctx.log(`row 1: replaced service, ${legacySize} MiB at ${speed}, run ${i + 1}`);
          const name = `b1-${tag}-legacy-${speed === 'loopback' ? 'l' : 'g'}${i}`;
          try {
            const t = await legacyCreate(hv, {
              name,
              url: server.url(`img-${legacySize}.qcow2`),
              disksDir: ctx.host.disks_dir,
              sizeMb: 5120,
              kvm: ctx.host.kvm,
            });
            legacy[speed].push(t.total);
            parts.push(`${speed} run ${i + 1}: curl ${fmt(t.curl)}, resize ${fmt(t.resize)}, virt-install ${fmt(t.virtInstall)}`);
          } finally {
            await legacyCleanup(hv, name, ctx.host.disks_dir);
          }
        }
        figures.push({ what: `replaced service, ${legacySize} MiB image at ${speed}`, samples: legacy[speed], unit: 'ms' });
      }
      const oursLegacySize = median(ours.get(legacySize) ?? ours.get(sizes.at(-1) ?? 0) ?? []);
      const worstP50 = Math.max(...[...ours.values()].map((t) => median(t)));
      const rLoop = median(legacy.loopback) / oursLegacySize;
      const rGbit = median(legacy['1 Gbit/s']) / oursLegacySize;
      return {
        row: 1,
        title: this.title,
        figures,
        targets: [
          { target: 'p50 ≤ 600 ms at every image size', measured: `worst p50 ${fmt(worstP50)}`, met: worstP50 <= 600 },
          ...sizes.map((sz) => {
            const o = median(ours.get(sz) ?? []);
            const f = median(floor.get(`${sz} one SSH exec`) ?? []);
            const l = median(floor.get(`${sz} one local shell`) ?? []);
            return {
              target: `${sz} MiB: ours vs the floor (reported)`,
              measured: `${fmt(o)} vs ${fmt(f)} (one SSH exec), ${fmt(l)} (local shell): +${fmt(o - f)}`,
              met: true,
            };
          }),
          { target: '≥ 3.5× faster than the replaced service at loopback speed', measured: `${rLoop.toFixed(1)}×`, met: rLoop >= 3.5 },
          { target: '≥ 10× faster at 1 Gbit/s', measured: `${rGbit.toFixed(1)}×`, met: rGbit >= 10 },
        ],
        notes: [`Replaced service's parts: ${parts.join('; ')}.`, ...notes],
      };
    } finally {
      for (const name of made) await hv.undefine(name).catch(() => undefined);
      await stack.stop();
      removeNewCacheEntries(ctx.host.images_dir, cacheBefore);
      await hv.close();
      await fast.close();
      await slow.close();
    }
  },
};
