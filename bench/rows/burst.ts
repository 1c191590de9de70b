/** Row 6: 50 concurrent creates of 64 MiB VMs on one host, within its operation limit. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeHypervisor, startImageServer, uniqueName } from '../../test/support/host.ts';
import { startStack } from '../../test/support/stack.ts';
import { cacheListing, createVm, fmt, makeBigImage, type Row, removeNewCacheEntries, span, summary, timed } from '../lib.ts';

export const row: Row = {
  row: 6,
  title: '50 concurrent creates on one host with its operation limit (64 MiB VMs)',
  async run(ctx) {
    const n = ctx.quick ? 12 : 50;
    const limit = 4;
    const dir = mkdtempSync(join(tmpdir(), 'bench-img-'));
    makeBigImage(dir, 'img.qcow2', 64);
    const server = await startImageServer(dir);
    const tag = uniqueName('b6').slice(3);
    const image = `bench-${tag}`;
    const stack = await startStack({ host: ctx.host, images: { [image]: { url: server.url('img.qcow2') } }, maxConcurrent: limit });
    const hv = makeHypervisor(ctx.host);
    const cacheBefore = cacheListing(ctx.host.images_dir);
    const names = Array.from({ length: n }, (_, i) => `b6-${tag}-${i}`);
    try {
      const [total, ends] = await timed(() => Promise.all(names.map((vm_name) => createVm(stack, { vm_name, image, instance_type: 'tiny' }))));
      const ok = ends.filter((e) => e.state === 'succeeded').length;
      const errors = ends.filter((e) => e.error).map((e) => e.error?.message ?? '');
      const lockErrors = [...errors, ...stack.logs].filter((l) => /lock/i.test(l) && /libvirt|virsh|domain/i.test(l)).length;
      const each = ends.map((e) => span(e.created_at, e.finished_at));
      const s = summary(each);
      return {
        row: 6,
        title: this.title,
        figures: [
          { what: `total time for ${n} creates (host limit ${limit})`, value: total, unit: 'ms' },
          { what: 'each create, submitted → succeeded', samples: each, unit: 'ms' },
        ],
        targets: [
          { target: 'all succeed', measured: `${ok}/${n}`, met: ok === n },
          { target: 'no libvirt lock errors', measured: `${lockErrors}`, met: lockErrors === 0 },
          { target: 'total time reported', measured: `${fmt(total)} (p50 per create ${fmt(s.p50)}, ${((n / total) * 1000).toFixed(1)} creates/s)`, met: true },
        ],
        notes: errors.length ? [`errors: ${[...new Set(errors)].join('; ')}`] : [],
      };
    } finally {
      for (const name of names) await hv.undefine(name).catch(() => undefined);
      await stack.stop();
      removeNewCacheEntries(ctx.host.images_dir, cacheBefore);
      await hv.close();
      await server.close();
    }
  },
};
