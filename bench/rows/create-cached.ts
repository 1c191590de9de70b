/**
 * Row 1: create → domain running (job submitted → job succeeded) with the image already cached, 20 VMs
 * per image size, against the replaced service's sequence (full download, qemu-img resize,
 * virt-install --import --cloud-init --wait 0) at loopback speed and with the image server at 1 Gbit/s.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeHypervisor, startImageServer, uniqueName } from '../../test/support/host.ts';
import { startStack } from '../../test/support/stack.ts';
import { legacyCleanup, legacyCreate } from '../legacy.ts';
import { cacheListing, createVm, type Figure, fmt, makeBigImage, median, type Row, removeNewCacheEntries, span } from '../lib.ts';

const GBIT = 125_000_000;

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
        }
        ours.set(s, times);
        figures.push({ what: `ours, ${s} MiB image cached: submitted → succeeded (${n} VMs, one after another)`, samples: times, unit: 'ms' });
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
          { target: 'p50 ≤ 1.0 s whatever the image size', measured: `worst p50 ${fmt(worstP50)}`, met: worstP50 <= 1000 },
          { target: '≥ 3.5× faster than the replaced service at loopback speed', measured: `${rLoop.toFixed(1)}×`, met: rLoop >= 3.5 },
          { target: '≥ 10× faster at 1 Gbit/s', measured: `${rGbit.toFixed(1)}×`, met: rGbit >= 10 },
        ],
        notes: [`Replaced service's parts: ${parts.join('; ')}.`],
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
