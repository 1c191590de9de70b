/**
 * Row 5: listing a host with 200 defined (not running) domains: our one-exec listing vs the replaced
 * service's loop (`virsh list --all`, then `virsh desc` per domain, each its own exec over SSH); then
 * GET /v1/vms served from the inventory.
 */
import autocannon from 'autocannon';
import { makeHypervisor, uniqueName } from '../../test/support/host.ts';
import { startStack } from '../../test/support/stack.ts';
import { fmt, type Row, summary, timed } from '../lib.ts';

export const row: Row = {
  row: 5,
  title: 'listing a host with 200 defined domains, and GET /v1/vms from the inventory',
  async run(ctx) {
    const count = ctx.quick ? 40 : 200;
    const runs = ctx.quick ? 3 : 5;
    const hv = makeHypervisor(ctx.host);
    const prefix = uniqueName('bl');
    const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
    ctx.log(`defining ${count} domains`);
    for (let i = 0; i < names.length; i += 8) {
      await Promise.all(
        names.slice(i, i + 8).map((name) =>
          hv.defineDomain({
            name,
            instanceId: `bench-${name}`,
            vcpus: 1,
            memoryMiB: 64,
            diskPath: `${ctx.host.disks_dir}/${name}.qcow2`,
            seedPath: null,
            tags: { owner: 'bench' },
          }),
        ),
      );
    }
    const stack = await startStack({ host: ctx.host, images: {} });
    try {
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let r = 0; r < runs; r++) {
        const before = hv.ssh.stats.channels;
        const [ms, list] = await timed(() => hv.listDomains());
        if (hv.ssh.stats.channels - before !== 1) throw new Error('listing took more than one exec');
        if (list.filter((d) => d.name.startsWith(prefix)).length !== count) throw new Error('listing missed domains');
        ours.push(ms);
        const [legacyMs] = await timed(async () => {
          const out = await hv.ssh.exec(['virsh', '-c', hv.uri, 'list', '--all', '--name']);
          for (const name of out.stdout.split('\n').filter(Boolean)) await hv.ssh.exec(['virsh', '-c', hv.uri, 'desc', name]);
        });
        theirs.push(legacyMs);
      }
      // The inventory, refreshed through the service, then served by the API.
      const r = await stack.fetch('/v1/vms?refresh=true&limit=1');
      if (r.status !== 200) throw new Error(`refresh: ${r.status}`);
      const result = await autocannon({
        url: `${stack.url}/v1/vms?limit=500`,
        connections: 10,
        duration: ctx.quick ? 3 : 8,
        headers: { authorization: `Bearer ${stack.tokens.read}` },
      });
      if (result.non2xx > 0) throw new Error(`GET /v1/vms answered ${result.non2xx} non-2xx`);
      const o = summary(ours);
      const t = summary(theirs);
      const ratio = t.p50 / o.p50;
      return {
        row: 5,
        title: this.title,
        figures: [
          { what: `ours: one SSH exec, one virsh batch (${count} domains)`, samples: ours, unit: 'ms' },
          { what: `replaced service: virsh list --all + virsh desc per domain (${count + 1} execs)`, samples: theirs, unit: 'ms' },
          { what: `GET /v1/vms from the inventory (${count} VMs), 10 connections: p50`, value: result.latency.p50, unit: 'ms' },
          { what: 'GET /v1/vms p99', value: result.latency.p99, unit: 'ms' },
          { what: 'GET /v1/vms throughput', value: result.requests.average, unit: 'req/s' },
        ],
        targets: [
          {
            target: 'inventory refresh ≥ 20× faster (median), one SSH exec per host',
            measured: `${ratio.toFixed(1)}× (${fmt(o.p50)} vs ${fmt(t.p50)}), 1 exec`,
            met: ratio >= 20,
          },
          { target: 'GET /v1/vms p99 ≤ 20 ms', measured: fmt(result.latency.p99), met: result.latency.p99 <= 20 },
        ],
        notes: [],
      };
    } finally {
      await stack.stop();
      for (const name of names) await hv.undefine(name).catch(() => undefined);
      await hv.close();
    }
  },
};
