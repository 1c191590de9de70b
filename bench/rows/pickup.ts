/**
 * Row 4: job pickup, submitted → running with an idle worker, against BullMQ's own add → active on the
 * same Redis (a bare Queue and a Worker with an empty processor). Both read BullMQ's own timestamps.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostQueueName } from '@provisioner/contracts';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startImageServer } from '../../test/support/host.ts';
import { deletePrefix, startStack } from '../../test/support/stack.ts';
import { fmt, median, type Row, summary, waitEnd } from '../lib.ts';

export const row: Row = {
  row: 4,
  title: 'job pickup: submitted → running, idle worker, vs BullMQ add → active',
  async run(ctx) {
    const n = ctx.quick ? 20 : 60;
    // Bare BullMQ.
    const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    const prefix = `{bench-${randomBytes(4).toString('hex')}}`;
    const queue = new Queue('pickup', { connection: redis, prefix });
    const worker = new Worker('pickup', async () => undefined, { connection: redis.duplicate(), prefix });
    await worker.waitUntilReady();
    const bare: number[] = [];
    for (let i = 0; i < n; i++) {
      const done = new Promise<void>((r) => worker.once('completed', () => r()));
      const job = await queue.add('noop', { i });
      await done;
      const j = await queue.getJob(job.id ?? '');
      bare.push((j?.processedOn ?? Number.NaN) - (j?.timestamp ?? Number.NaN));
      await new Promise((r) => setTimeout(r, 20)); // idle between jobs
    }
    await worker.close();
    await queue.close();
    await deletePrefix(redis, prefix);
    await redis.quit();

    // The service: a job that fails fast at its first step (its image answers 404, a permanent failure), so each
    // measurement starts from an idle worker.
    const server = await startImageServer(mkdtempSync(join(tmpdir(), 'bench-empty-')));
    const stack = await startStack({ host: ctx.host, images: { 'bench-missing': { url: server.url('missing.qcow2') } } });
    const ours: number[] = [];
    const accept: number[] = [];
    try {
      const q = new Queue(hostQueueName('r1', 'h1'), { connection: stack.redis, prefix: stack.prefix });
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const r = await stack.fetch('/v1/vms', {
          method: 'POST',
          body: JSON.stringify({ vm_name: `b4-${randomBytes(4).toString('hex')}`, region_name: 'r1', instance_type: 'tiny', image: 'bench-missing' }),
        });
        accept.push(performance.now() - t0);
        const { id } = (await r.json()) as { id: string };
        await waitEnd(stack, id);
        const j = await q.getJob(id);
        ours.push((j?.processedOn ?? Number.NaN) - (j?.timestamp ?? Number.NaN));
        await new Promise((r) => setTimeout(r, 20));
      }
      await q.close();
    } finally {
      await stack.stop();
      await server.close();
    }
    const o = median(ours);
    const b = median(bare);
    return {
      row: 4,
      title: this.title,
      figures: [
        { what: 'BullMQ add → active (bare Queue + Worker)', samples: bare, unit: 'ms' },
        { what: 'ours: submitted → running (BullMQ timestamps of the job)', samples: ours, unit: 'ms' },
        { what: 'ours: POST /v1/vms round trip (202)', samples: accept, unit: 'ms' },
      ],
      targets: [
        { target: 'within 2× of BullMQ', measured: `p50 ${fmt(o)} vs ${fmt(b)}`, met: o <= 2 * Math.max(b, 1) },
        { target: 'p50 ≤ 5 ms', measured: fmt(o), met: o <= 5 },
      ],
      notes: [`BullMQ's timestamps have millisecond resolution; p90 ours ${fmt(summary(ours).p90)}, BullMQ ${fmt(summary(bare).p90)}.`],
    };
  },
};
