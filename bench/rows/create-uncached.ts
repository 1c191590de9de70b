/**
 * Row 2: a create whose image is not cached yet (2 GiB) against a plain `curl` of the same file on the
 * same host, without a catalog checksum (hashed after, off the critical path) and with one (hashed before
 * the image is used); then ten concurrent creates of one new image, which must download it once.
 */
import { createHash } from 'node:crypto';
import { createReadStream, linkSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeHypervisor, startImageServer, uniqueName } from '../../test/support/host.ts';
import { startStack } from '../../test/support/stack.ts';
import { cacheListing, createVm, fmt, makeBigImage, median, type Row, removeNewCacheEntries, span } from '../lib.ts';

export const row: Row = {
  row: 2,
  title: 'create with the image not cached yet, vs a plain curl of the same file',
  async run(ctx) {
    const mib = ctx.quick ? 256 : 2048;
    const runs = ctx.quick ? 2 : 3;
    const dir = mkdtempSync(join(tmpdir(), 'bench-img-'));
    makeBigImage(dir, 'img.qcow2', mib);
    // A distinct file name (hard link) per run: every create meets an image it has never cached.
    for (let i = 0; i <= runs + 1; i++) linkSync(join(dir, 'img.qcow2'), join(dir, `img-${i}.qcow2`));
    // With a catalog checksum: other content (a cached copy of the first would be found by its hash).
    makeBigImage(dir, 'sum.qcow2', mib + 1);
    for (let i = 0; i < runs; i++) linkSync(join(dir, 'sum.qcow2'), join(dir, `sum-${i}.qcow2`));
    const sum = await new Promise<string>((resolve, reject) => {
      const h = createHash('sha256');
      createReadStream(join(dir, 'sum.qcow2'))
        .on('data', (c) => h.update(c))
        .on('end', () => resolve(h.digest('hex')))
        .on('error', reject);
    });
    const server = await startImageServer(dir);
    const gbit = await startImageServer(dir, { bytesPerSecond: 125_000_000 });
    const tag = uniqueName('b2').slice(3);
    const img = (i: number) => `bench-${tag}-u${i}`;
    const stack = await startStack({
      host: ctx.host,
      images: {
        ...Object.fromEntries(Array.from({ length: runs + 1 }, (_, i) => [img(i), { url: server.url(`img-${i}.qcow2`) }])),
        [img(runs + 1)]: { url: gbit.url(`img-${runs + 1}.qcow2`) },
        ...Object.fromEntries(Array.from({ length: runs }, (_, i) => [`${img(i)}-sum`, { url: server.url(`sum-${i}.qcow2`), sha256: sum }])),
      },
      instanceTypes: [{ instance_type: 'bench', vcpus: 1, memory_mb: 64, storage_mb: 5120 }],
    });
    const hv = makeHypervisor(ctx.host);
    const cacheBefore = cacheListing(ctx.host.images_dir);
    const made: string[] = [];
    try {
      const curl: number[] = [];
      const download: number[] = [];
      const whole: number[] = [];
      const sumDownload: number[] = [];
      const sumWhole: number[] = [];
      for (let i = 0; i < runs; i++) {
        ctx.log(`row 2: run ${i + 1}: curl, then an uncached create`);
        const t0 = performance.now();
        await hv.ssh.exec(
          ['sh', '-c', 'curl -fsS -o "$1/.bench-curl" "$2"; rm -f "$1/.bench-curl"', 'curl', ctx.host.images_dir, server.url(`img-${i}.qcow2`)],
          { timeoutMs: 600_000 },
        );
        curl.push(performance.now() - t0);
        const name = `b2-${tag}-${i}`;
        made.push(name);
        const end = await createVm(stack, { vm_name: name, image: img(i), instance_type: 'bench' });
        if (end.state !== 'succeeded') throw new Error(`create failed: ${end.error?.message}`);
        const fetch = end.steps.find((s) => s.name === 'fetch-image');
        download.push(span(fetch?.started_at ?? null, fetch?.finished_at ?? null));
        whole.push(span(end.created_at, end.finished_at));
        await hv.undefine(name);
        // Its hash is computed on the host after the download: wait for it, so that it does not share the
        // machine with the next measurement.
        for (let t = 0; t < 600; t++) {
          const link = await hv.ssh.run(['readlink', `${ctx.host.images_dir}/by-name/${img(i)}`], { okExitCodes: [0, 1] });
          if (link.stdout.startsWith('../sha256-')) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        // The same with a catalog checksum: the image is hashed before it is used. Its cached copy is
        // removed after, so that the next run downloads it again.
        const sname = `b2-${tag}-s${i}`;
        made.push(sname);
        const send = await createVm(stack, { vm_name: sname, image: `${img(i)}-sum`, instance_type: 'bench' });
        if (send.state !== 'succeeded') throw new Error(`create failed: ${send.error?.message}`);
        const sfetch = send.steps.find((s) => s.name === 'fetch-image');
        sumDownload.push(span(sfetch?.started_at ?? null, sfetch?.finished_at ?? null));
        sumWhole.push(span(send.created_at, send.finished_at));
        await hv.undefine(sname);
        await hv.ssh.run(['rm', '-f', `${ctx.host.images_dir}/sha256-${sum}`]);
      }
      // The same at 1 Gbit/s, a real network's speed: once each (the download alone takes ~17 s).
      const slow = { curl: Number.NaN, download: Number.NaN, whole: Number.NaN };
      if (!ctx.quick) {
        ctx.log('row 2: curl and an uncached create at 1 Gbit/s');
        const t0 = performance.now();
        await hv.ssh.exec(
          ['sh', '-c', 'curl -fsS -o "$1/.bench-curl" "$2"; rm -f "$1/.bench-curl"', 'curl', ctx.host.images_dir, gbit.url(`img-${runs + 1}.qcow2`)],
          {
            timeoutMs: 600_000,
          },
        );
        slow.curl = performance.now() - t0;
        const name = `b2-${tag}-g`;
        made.push(name);
        const end = await createVm(stack, { vm_name: name, image: img(runs + 1), instance_type: 'bench' });
        if (end.state !== 'succeeded') throw new Error(`create failed: ${end.error?.message}`);
        const fetch = end.steps.find((s) => s.name === 'fetch-image');
        slow.download = span(fetch?.started_at ?? null, fetch?.finished_at ?? null);
        slow.whole = span(end.created_at, end.finished_at);
        await hv.undefine(name);
      }
      ctx.log('row 2: ten concurrent creates of one new image');
      const burstImage = img(runs);
      const names = Array.from({ length: 10 }, (_, i) => `b2-${tag}-c${i}`);
      made.push(...names);
      const ends = await Promise.all(names.map((vm_name) => createVm(stack, { vm_name, image: burstImage, instance_type: 'bench' })));
      const downloads = server.requests.filter((p) => p === `/img-${runs}.qcow2`).length;
      const allOk = ends.every((e) => e.state === 'succeeded');
      const c = median(curl);
      const d = median(download);
      const w = median(whole);
      return {
        row: 2,
        title: this.title,
        figures: [
          { what: `plain curl of the ${mib} MiB file to the host's disk`, samples: curl, unit: 'ms' },
          { what: 'ours, no catalog checksum: fetch-image step (download + cache; hashed after, off the critical path)', samples: download, unit: 'ms' },
          { what: 'ours, no catalog checksum: whole create, submitted → succeeded', samples: whole, unit: 'ms' },
          { what: 'ours, with a catalog checksum: fetch-image step (download, then SHA-256 before use)', samples: sumDownload, unit: 'ms' },
          { what: 'ours, with a catalog checksum: whole create, submitted → succeeded', samples: sumWhole, unit: 'ms' },
          { what: 'ten concurrent creates of one new image: downloads of it', value: downloads, unit: 'downloads' },
          { what: 'at 1 Gbit/s: plain curl', value: slow.curl, unit: 'ms' },
          { what: 'at 1 Gbit/s: ours, fetch-image step', value: slow.download, unit: 'ms' },
          { what: 'at 1 Gbit/s: ours, whole create', value: slow.whole, unit: 'ms' },
        ],
        targets: [
          { target: 'download step within 1.2× of curl', measured: `${(d / c).toFixed(2)}× (${fmt(d)} vs ${fmt(c)})`, met: d <= 1.2 * c },
          { target: 'whole create ≤ curl + 1 s', measured: `${fmt(w)} vs ${fmt(c + 1000)}`, met: w <= c + 1000 },
          {
            target: 'with a catalog checksum (hashed before use): download step within 1.2× of curl',
            measured: `${(median(sumDownload) / c).toFixed(2)}× (${fmt(median(sumDownload))} vs ${fmt(c)})`,
            met: median(sumDownload) <= 1.2 * c,
          },
          {
            target: 'with a catalog checksum: whole create ≤ curl + 1 s',
            measured: `${fmt(median(sumWhole))} vs ${fmt(c + 1000)}`,
            met: median(sumWhole) <= c + 1000,
          },
          {
            target: 'ten concurrent creates download it once (all succeed)',
            measured: `${downloads} download(s), ${ends.filter((e) => e.state === 'succeeded').length}/10 succeeded`,
            met: downloads === 1 && allOk,
          },
        ],
        notes: [],
      };
    } finally {
      for (const name of made) await hv.undefine(name).catch(() => undefined);
      await stack.stop();
      removeNewCacheEntries(ctx.host.images_dir, cacheBefore);
      await hv.close();
      await server.close();
      await gbit.close();
    }
  },
};
