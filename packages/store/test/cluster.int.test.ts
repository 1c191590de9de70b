/**
 * Each job/VM-state script once on a real three-node Redis Cluster: every key a script touches carries
 * the prefix's hash tag, so all are in one slot and the cluster runs it (a key in another slot would fail
 * with CROSSSLOT).
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisSetup, startCluster } from '../../../test/support/redis-ha.ts';
import { InventoryStore } from '../src/inventory-store.ts';
import { JobQueue } from '../src/job-queue.ts';
import { RegionLock } from '../src/region-lock.ts';
import { VmLedger } from '../src/vm-ledger.ts';
import { jobConfig } from './job-config.ts';

let cluster: RedisSetup;
let redis: Redis;
const prefix = '{cluster-a}';

beforeAll(async () => {
  cluster = await startCluster();
  redis = cluster.client();
}, 60_000);
afterAll(async () => {
  await redis?.quit().catch(() => undefined);
  await cluster?.stop();
});

describe('job and VM state scripts on a Redis Cluster', () => {
  it('recordJob, cancelQueued, settleJob, reservePending, releasePending (both forms), sweepPending, patchInventoryVm and releaseRegionLock run', async () => {
    const jobs = new JobQueue(redis, jobConfig(prefix));
    const ledger = new VmLedger(redis, prefix);
    try {
      const need = { vcpus: 1, memory_mb: 512, storage_mb: 4096 };
      const noLimit = { n: null, vcpus: null, memory_mb: null, storage_mb: null };
      expect(await ledger.reserve('r1', 'h1', 'a', need, noLimit)).toEqual({ ok: true });
      expect(await ledger.reserve('r1', 'h1', 'b', need, noLimit)).toEqual({ ok: true });
      const job = await jobs.submit({ kind: 'start', region: 'r1', host: 'h1', vm_name: 'a', submitted_by: 't' });
      expect(job.data.seq).toBe(1);
      expect(await jobs.cancelQueued(jobs.get(job.queueName), String(job.id), 't')).toBe('canceled');
      expect(await ledger.settle(jobs.get(job.queueName), job, 'kept')).toBe(true);
      await ledger.releaseResize('r1', 'h1', 'a');
      await ledger.free('r1', 'h1', 'a');
      await ledger.free('r1', 'h1', 'b');
      expect(await ledger.sweep('r1', 'h1', new Set())).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
      const inv = new InventoryStore(redis, prefix);
      await inv.putEntry({ region: 'r1', host: 'h1', observed_at: null, attempted_at: 'now', error: null, vms: [] });
      expect(await inv.patchVm('r1', 'h1', 'a', null)).toBe(true);
      await inv.putListedEntry({ region: 'r1', host: 'h1', observed_at: 'now', attempted_at: 'now', error: null, vms: [] }, 0);
      const lock = new RegionLock(redis, prefix);
      const token = await lock.tryAcquire('r1', 5000);
      expect(await lock.release('r1', token as string)).toBe(true);
    } finally {
      await jobs.close();
    }
  }, 60_000);
});
