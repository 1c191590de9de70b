/** Row 7: short commands on one host over the pooled connection vs a new connection per command. */
import { SshHost } from '@provisioner/libvirt';
import { hypervisorOptions } from '../../test/support/host.ts';
import { type Row, timed } from '../lib.ts';

const CONCURRENCY = 8;

async function pool(n: number, fn: () => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < n) await fn();
    }),
  );
}

export const row: Row = {
  row: 7,
  title: 'short SSH commands on one host: pooled connection vs a new connection per command',
  async run(ctx) {
    const opts = hypervisorOptions(ctx.host).ssh;
    const n = ctx.quick ? 100 : 400;
    const nFresh = ctx.quick ? 24 : 80;
    const pooled = new SshHost(opts);
    await pooled.exec(['true']); // connect once, as a running worker has
    const [pooledMs] = await timed(() => pool(n, () => pooled.exec(['true'])));
    await pooled.close();
    const [freshMs] = await timed(() =>
      pool(nFresh, async () => {
        const s = new SshHost(opts);
        try {
          await s.exec(['true']);
        } finally {
          await s.close();
        }
      }),
    );
    const pooledRate = (n / pooledMs) * 1000;
    const freshRate = (nFresh / freshMs) * 1000;
    const ratio = pooledRate / freshRate;
    return {
      row: 7,
      title: this.title,
      figures: [
        { what: `pooled connection, ${CONCURRENCY} channels at once (${n} × \`true\`)`, value: pooledRate, unit: 'commands/s' },
        { what: `new connection per command, ${CONCURRENCY} at once (${nFresh} × \`true\`)`, value: freshRate, unit: 'commands/s' },
      ],
      targets: [{ target: '≥ 5× more commands per second', measured: `${ratio.toFixed(1)}×`, met: ratio >= 5 }],
      notes: [],
    };
  },
};
