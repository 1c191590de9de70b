/** VmLedger.settle (settleJob), endOutcome and isMyTurn's settling of a finished head, against the machine's Redis. */
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobQueue } from '../src/job-queue.ts';
import { endOutcome, VmLedger } from '../src/vm-ledger.ts';
import { jobConfig } from './job-config.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('settle');
const need = { vcpus: 2, memory_mb: 1024, storage_mb: 4096 };
const noLimit = { n: null, vcpus: null, memory_mb: null, storage_mb: null };
let jobs: JobQueue;
let ledger: VmLedger;
const queue = () => jobs.get('ops.r1.h1');
const totals = async () => (await ledger.totals('r1', ['h1'])).get('h1');

/** A create accepted as the API accepts one: its name and room reserved on h1, then queued. */
async function accept(vm: string): Promise<Job> {
  expect(await ledger.reserve('r1', 'h1', vm, need, noLimit)).toEqual({ ok: true });
  return jobs.submit({
    kind: 'create',
    region: 'r1',
    host: 'h1',
    vm_name: vm,
    instance_type: 'tiny',
    ...need,
    image: { name: 'tiny', url: 'https://images.example.org/tiny.qcow2' },
    tags: {},
    submitted_by: 'test',
  });
}

/** A job waiting as delayed in the VM's line after the others (as a worker leaves one whose VM is busy). */
async function delayedNext(vm: string, score: number): Promise<Job> {
  const j = await queue().add('start', {}, { delay: 60_000 });
  await env.redis.zadd(`${env.prefix}:vmops:r1/${vm}`, score, String(j.id));
  return j;
}

beforeAll(() => {
  jobs = new JobQueue(env.redis, jobConfig(env.prefix));
  ledger = new VmLedger(env.redis, env.prefix);
});
afterAll(() => jobs?.close());

describe('settle', () => {
  it('gives back once and ends the turn once: a second settle neither releases nor promotes again', async () => {
    const a = await accept('s-a');
    await accept('s-other');
    const next = await delayedNext('s-a', 10);
    expect(await ledger.settle(queue(), a, 'kept')).toBe(true);
    // Its room is given back (the other create's stays), its name kept (its VM exists), its turn ended.
    expect(await totals()).toEqual({ n: 1, ...need });
    expect(await ledger.hostOf('r1', 's-a')).toBe('h1');
    expect(await ledger.line('r1', 's-a')).toEqual([next.id]);
    expect(await queue().getJobState(String(next.id))).toBe('waiting');

    // The VM's next head waits as delayed again: settling `a` again must not promote it.
    await next.remove();
    const later = await delayedNext('s-a', 11);
    expect(await ledger.settle(queue(), a, 'kept')).toBe(false);
    expect(await ledger.settle(queue(), a, 'undone')).toBe(false);
    expect(await queue().getJobState(String(later.id))).toBe('delayed');
    expect(await totals()).toEqual({ n: 1, ...need });
    expect(await ledger.hostOf('r1', 's-a')).toBe('h1');
    await later.remove();
    await ledger.free('r1', 'h1', 's-other');
  });

  it('cancel, then the worker’s end: settled once; the late one leaves a new create of the same name alone', async () => {
    const a = await accept('s-c');
    // The API's cancel of a queued job: failed at once, its end settled (a create that never ran: undone).
    expect(await jobs.cancelQueued(queue(), String(a.id), 'test')).toBe('canceled');
    expect(endOutcome(a)).toBe('undone');
    expect(await ledger.settle(queue(), a, endOutcome(a))).toBe(true);
    expect(await ledger.hostOf('r1', 's-c')).toBeNull();
    expect(await totals()).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
    // The name is taken again by another create on the same host ...
    const b = await accept('s-c');
    // ... when a worker (or isMyTurn) settles the canceled job's end as well, from the job as it ended.
    const ended = (await queue().getJob(String(a.id))) as Job;
    expect(ended.finishedOn).toBeTypeOf('number');
    expect(await ledger.settle(queue(), ended, endOutcome(ended))).toBe(false);
    expect(await ledger.hostOf('r1', 's-c')).toBe('h1');
    expect(await totals()).toEqual({ n: 1, ...need });
    expect(await ledger.line('r1', 's-c')).toEqual([b.id]);
    expect(await ledger.settle(queue(), b, 'undone')).toBe(true);
  });

  it('made gives the room back and keeps the turn and the name; the end then settles the turn once', async () => {
    const a = await accept('s-m');
    const next = await delayedNext('s-m', 10);
    expect(await ledger.settle(queue(), a, 'made')).toBe(true);
    expect(await totals()).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
    expect(await ledger.line('r1', 's-m')).toEqual([a.id, next.id]);
    expect(await queue().getJobState(String(next.id))).toBe('delayed');
    expect(await ledger.settle(queue(), a, 'kept')).toBe(true);
    expect(await ledger.line('r1', 's-m')).toEqual([next.id]);
    expect(await ledger.hostOf('r1', 's-m')).toBe('h1');
    expect(await ledger.settle(queue(), a, 'made')).toBe(false);
    await next.remove();
  });

  it('a resize gives back its extra room, never the name; a host job holds nothing', async () => {
    expect(await ledger.settle(queue(), await accept('s-r'), 'kept')).toBe(true);
    expect(await ledger.reserveResize('r1', 'h1', 's-r', { vcpus: 1, memory_mb: 0, storage_mb: 0 }, noLimit)).toEqual({ ok: true });
    const resize = await jobs.submit({
      kind: 'resize',
      region: 'r1',
      host: 'h1',
      vm_name: 's-r',
      instance_type: 'big',
      vcpus: 3,
      memory_mb: 1024,
      storage_mb: 4096,
      force: false,
      timeout_ms: 1000,
      submitted_by: 'test',
    });
    expect(await totals()).toEqual({ n: 0, vcpus: 1, memory_mb: 0, storage_mb: 0 });
    expect(await ledger.settle(queue(), resize, 'undone')).toBe(true);
    expect(await totals()).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
    expect(await ledger.hostOf('r1', 's-r')).toBe('h1');
    const refresh = await jobs.submit({ kind: 'refresh', region: 'r1', host: 'h1', submitted_by: 'test' });
    expect(await ledger.settle(queue(), refresh, 'kept')).toBe(false);
    await ledger.forget('r1', 's-r');
  });

  it('isMyTurn settles a finished head whose end nobody settled (its worker died)', async () => {
    const a = await accept('s-t');
    const start = await jobs.submit({ kind: 'start', region: 'r1', host: 'h1', vm_name: 's-t', submitted_by: 'test' });
    // Failed (here: canceled while queued) and never settled.
    expect(await jobs.cancelQueued(queue(), String(a.id), 'test')).toBe('canceled');
    expect(await ledger.isMyTurn(queue(), 'r1', 's-t', String(start.id))).toBe(true);
    expect(await ledger.line('r1', 's-t')).toEqual([start.id]);
    expect(await ledger.hostOf('r1', 's-t')).toBeNull();
    expect(await totals()).toEqual({ n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 });
    expect(await ledger.settle(queue(), a, 'undone')).toBe(false);
  });
});

describe('endOutcome', () => {
  const create = { kind: 'create', region: 'r1', host: 'h1', vm_name: 'x' };
  it('a create that never started, or whose cleanup removed its VM, left none; everything else kept what it made', () => {
    expect(endOutcome({ data: create, attemptsMade: 0, attemptsStarted: 0 })).toBe('undone');
    expect(endOutcome({ data: { ...create, removed: true }, attemptsMade: 1, attemptsStarted: 1 })).toBe('undone');
    expect(endOutcome({ data: create, attemptsMade: 1, attemptsStarted: 1 })).toBe('kept');
    // Its VM runs and it waited for the guest: canceled or failed, the VM stays.
    expect(endOutcome({ data: { ...create, ready_wait: { since: 1, image_sha256: null } }, attemptsMade: 0, attemptsStarted: 1 })).toBe('kept');
    expect(endOutcome({ data: { ...create, kind: 'start' }, attemptsMade: 0, attemptsStarted: 0 })).toBe('kept');
  });
});
