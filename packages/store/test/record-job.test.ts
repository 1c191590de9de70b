/** JobQueue.submit and its script (recordJob), and the VM's turn (VmLedger), against the machine's Redis. */
import { afterAll, describe, expect, it } from 'vitest';
import { JobQueue, SeqMismatchError } from '../src/job-queue.ts';
import { keys } from '../src/keys.ts';
import { runScript } from '../src/scripts.ts';
import { VmLedger } from '../src/vm-ledger.ts';
import { jobConfig } from './job-config.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('record');
let jobs: JobQueue;
const by = { submitted_by: 'test' };
const start = (vm: string) => jobs.submit({ kind: 'start', region: 'r1', host: 'h1', vm_name: vm, ...by });

afterAll(() => jobs?.close());

describe('recordJob', () => {
  it('records the job’s queue with a TTL and gives each operation on a VM the next seq and its place in the VM’s line', async () => {
    jobs = new JobQueue(env.redis, jobConfig(env.prefix));
    const a = await start('vm-a');
    const b = await start('vm-a');
    const other = await start('vm-b');
    expect([a.data.seq, b.data.seq, other.data.seq]).toEqual([1, 2, 1]);
    expect(await env.redis.get(keys.jobQueue(env.prefix, String(a.id)))).toBe('ops.r1.h1');
    const ttl = await env.redis.ttl(keys.jobQueue(env.prefix, String(a.id)));
    expect(ttl).toBeGreaterThan(jobs.config.retention_seconds);
    expect(ttl).toBeLessThanOrEqual(jobs.config.retention_seconds + 3600);
    const ledger = new VmLedger(env.redis, env.prefix);
    expect(await ledger.line('r1', 'vm-a')).toEqual([a.id, b.id]);
    expect(
      await ledger.heads([
        { region: 'r1', vm: 'vm-a' },
        { region: 'r1', vm: 'vm-b' },
        { region: 'r1', vm: 'none' },
      ]),
    ).toEqual([a.id, other.id, undefined]);
    expect((await jobs.find(String(b.id)))?.state).toBe('waiting');
    // Lines none of which exist (the script's one EXISTS answers), and more VMs than one call reads (and
    // than Lua's unpack takes), with the one that has a line last.
    expect(
      await ledger.heads([
        { region: 'r1', vm: 'none' },
        { region: 'r1', vm: 'none2' },
      ]),
    ).toEqual([undefined, undefined]);
    const many = [...Array.from({ length: 9000 }, (_, i) => ({ region: 'r1', vm: `none-${i}` })), { region: 'r1', vm: 'vm-a' }];
    const heads = await ledger.heads(many);
    expect(heads).toHaveLength(9001);
    expect(heads.slice(0, 9000).every((h) => h === undefined)).toBe(true);
    expect(heads[9000]).toBe(a.id);
  });

  it('a host job gets no seq and no line (the script with the job key alone)', async () => {
    jobs ??= new JobQueue(env.redis, jobConfig(env.prefix));
    const job = await jobs.submit({ kind: 'refresh', region: 'r1', host: 'h2', ...by });
    expect((job.data as { seq?: number }).seq).toBeUndefined();
    expect(await env.redis.get(keys.jobQueue(env.prefix, String(job.id)))).toBe('ops.r1.h2');
    // An on-demand refresh is removed as it ends, whichever way: it never counts against retention_max_jobs.
    expect(job.opts).toMatchObject({ removeOnComplete: true, removeOnFail: true });
    expect(await runScript(env.redis, 'recordJob', [keys.jobQueue(env.prefix, 'x')], ['q', 60, 'x'])).toBe(0);
  });

  it('with expectSeq (a write built from a read, If-Match) records the job only while the VM is still at that seq', async () => {
    jobs ??= new JobQueue(env.redis, jobConfig(env.prefix));
    const ledger = new VmLedger(env.redis, env.prefix);
    expect(await ledger.seq('r1', 'vm-e')).toBe(0);
    const tags = (t: Record<string, string>, expectSeq?: number) =>
      jobs.submit({ kind: 'edit-tags', region: 'r1', host: 'h1', vm_name: 'vm-e', tags: t, ...by }, expectSeq === undefined ? {} : { expectSeq });
    const first = await tags({ a: '1' }, 0);
    expect(first.data.seq).toBe(1);
    expect(await ledger.seq('r1', 'vm-e')).toBe(1);
    // Another write built from the same read (seq 0): refused, nothing recorded, the seq and the line unchanged.
    const stale = await tags({ a: '2' }, 0).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(SeqMismatchError);
    expect((stale as SeqMismatchError).current).toBe(1);
    expect(await ledger.seq('r1', 'vm-e')).toBe(1);
    expect(await ledger.line('r1', 'vm-e')).toEqual([first.id]);
    expect(await jobs.get('ops.r1.h1').getJobCountByTypes('waiting')).toBeGreaterThan(0);
    // Concurrent writers holding one read: exactly one is recorded.
    const all = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => tags({ w: String(i) }, 1)));
    expect(all.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(await ledger.seq('r1', 'vm-e')).toBe(2);
    // Without expectSeq, as before.
    expect((await tags({ a: '3' })).data.seq).toBe(3);
  });

  it('encrypts a create’s user-data and never stores it in plain text', async () => {
    jobs ??= new JobQueue(env.redis, jobConfig(env.prefix));
    const job = await jobs.submit({
      kind: 'create',
      region: 'r1',
      host: 'h1',
      vm_name: 'vm-c',
      instance_type: 'tiny',
      vcpus: 1,
      memory_mb: 512,
      storage_mb: 4096,
      image: { name: 'tiny', url: 'https://images.example.org/tiny.qcow2' },
      tags: {},
      user_data: '#cloud-config\nsecret: plain-text-here\n',
      ...by,
    });
    const raw = await env.redis.hget(jobs.get('ops.r1.h1').toKey(String(job.id)), 'data');
    expect(raw).not.toContain('plain-text-here');
    expect(JSON.parse(raw ?? '{}').user_data_enc).toBeTypeOf('string');
  });

  it('only the first of a VM’s line has its turn; a finished or vanished head is dropped; settling a job’s end promotes the next delayed one', async () => {
    jobs ??= new JobQueue(env.redis, jobConfig(env.prefix));
    const ledger = new VmLedger(env.redis, env.prefix);
    const queue = jobs.get('ops.r1.h1');
    const a = await start('vm-t');
    // The next operation waits as delayed (as a worker leaves a job whose VM is busy).
    const b = await queue.add('start', {}, { delay: 60_000 });
    await env.redis.zadd(keys.vmOps(env.prefix, 'r1', 'vm-t'), 2, String(b.id));
    expect(await ledger.isMyTurn(queue, 'r1', 'vm-t', String(a.id))).toBe(true);
    expect(await ledger.isMyTurn(queue, 'r1', 'vm-t', String(b.id))).toBe(false);
    expect(await b.isDelayed()).toBe(true);
    expect(await ledger.settle(queue, a, 'kept')).toBe(true);
    expect(await ledger.line('r1', 'vm-t')).toEqual([b.id]);
    expect(await queue.getJobState(String(b.id))).toBe('waiting');
    // A head removed by an operator does not block the VM.
    const c = await start('vm-t');
    await b.remove();
    expect(await ledger.hasOps('r1', 'vm-t')).toBe(true);
    expect(await ledger.isMyTurn(queue, 'r1', 'vm-t', String(c.id))).toBe(true);
    expect(await ledger.line('r1', 'vm-t')).toEqual([c.id]);
  });
});
