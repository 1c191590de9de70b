/**
 * GET /v1/vms/{region}/{name}/console: validation, scope and owner scoping, and the answer (text/plain,
 * no-store) taken from where the `console` job left it. The host side (the worker reading the real log) is
 * test/e2e/console.int.test.ts.
 */
import { CONSOLE_TAIL_MAX, hostQueueName } from '@provisioner/contracts';
import { ConsoleStore } from '@provisioner/store';
import { keys } from '@provisioner/store/testing';
import type { Job, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fail, fakeWorker, TOKENS, useHarness } from './harness.ts';

const BOB = 'tok-bob-console-0123456789abcdef';
const h = useHarness({
  extra: {
    tokens: [
      { name: 'admin', token: TOKENS.admin, scopes: ['admin'] },
      { name: 'reader', token: TOKENS.read, scopes: ['read'] },
      { name: 'bob', token: BOB, scopes: ['read', 'write'], owner: 'bob' },
    ],
  },
});

describe('GET /v1/vms/{region}/{name}/console', () => {
  let worker: Worker;
  const seen: Job[] = [];

  beforeAll(async () => {
    worker = fakeWorker(h, 'r2', 'h1', async (job) => {
      seen.push(job);
      const store = new ConsoleStore(h.redis, h.prefix, h.config.user_data_key);
      if (job.data.vm_name === 'no-log') await store.put(String(job.id), null);
      else if (job.data.vm_name === 'broken') {
        // As the worker's console processor: why it failed goes where the text would (the job is removed as it fails).
        await store.fail(String(job.id), { code: 'CONNECTION', message: 'ssh: connect ECONNREFUSED', retryable: false });
        throw fail('CONNECTION', 'ssh: connect ECONNREFUSED');
      } else await store.put(String(job.id), { source: 'current', text: `[  OK  ] ${job.data.tail_bytes} bytes of ${job.data.vm_name}\n` });
      return { found: true };
    });
    await h.writeInventory('r2', 'h1', [
      { name: 'alice-vm', state: 'running', tags: { owner: 'alice' } },
      { name: 'bob-vm', state: 'running', tags: { owner: 'bob' } },
      { name: 'no-log', state: 'shut off' },
      { name: 'broken', state: 'running' },
    ]);
  });
  afterAll(async () => {
    await worker.close();
  });

  it('answers the text the console job read, as text/plain that nothing caches nor sniffs, 64 KiB unless asked', async () => {
    const r = await h.fetch('/v1/vms/r2/alice-vm/console');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(r.headers.get('cache-control')).toBe('no-store');
    // The guest's text: a browser must not take it for HTML.
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await r.text()).toBe('[  OK  ] 65536 bytes of alice-vm\n');
    const small = await h.fetch('/v1/vms/r2/alice-vm/console?tail_bytes=512');
    expect(await small.text()).toBe('[  OK  ] 512 bytes of alice-vm\n');
    // The text went through Redis encrypted and is gone once answered; the job (a host job) is removed on completion.
    const job = seen.at(-1) as Job;
    expect(job.data).toMatchObject({ kind: 'console', region: 'r2', host: 'h1', vm_name: 'alice-vm', tail_bytes: 512 });
    expect(await h.redis.exists(keys.console(h.prefix, String(job.id)))).toBe(0);
    expect(await h.queues.find(String(job.id))).toBeNull();
  });

  it.each(['0', '-1', String(CONSOLE_TAIL_MAX + 1), 'many', '1.5'])('tail_bytes=%s is a 422', async (n) => {
    const r = await h.fetch(`/v1/vms/r2/alice-vm/console?tail_bytes=${n}`);
    expect(r.status).toBe(422);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('VALIDATION');
  });

  it('takes tail_bytes up to 1 MiB, and no other parameter', async () => {
    expect((await h.fetch(`/v1/vms/r2/alice-vm/console?tail_bytes=${CONSOLE_TAIL_MAX}`)).status).toBe(200);
    expect((await h.fetch('/v1/vms/r2/alice-vm/console?tail=5')).status).toBe(422);
  });

  it('needs the write scope: a read-only token is refused before any job is queued', async () => {
    const before = seen.length;
    const r = await h.fetch('/v1/vms/r2/alice-vm/console', { token: TOKENS.read });
    expect(r.status).toBe(403);
    expect(seen.length).toBe(before);
  });

  it('an owner-bound token reads its own VMs’ consoles and gets 404 for the others', async () => {
    expect((await h.fetch('/v1/vms/r2/bob-vm/console', { token: BOB })).status).toBe(200);
    const before = seen.length;
    const r = await h.fetch('/v1/vms/r2/alice-vm/console', { token: BOB });
    expect(r.status).toBe(404);
    expect(seen.length).toBe(before);
  });

  it('404 for an unknown VM or region, and for a VM without a console log', async () => {
    expect((await h.fetch('/v1/vms/r2/nope/console')).status).toBe(404);
    expect((await h.fetch('/v1/vms/zz/alice-vm/console')).status).toBe(404);
    const r = await h.fetch('/v1/vms/r2/no-log/console');
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/no console log yet/);
  });

  it('a console job that fails answers its failure with the job', async () => {
    const r = await h.fetch('/v1/vms/r2/broken/console');
    expect(r.status).toBe(502);
    const body = (await r.json()) as { error: { job_id: string; message: string } };
    expect(body.error.message).toContain('ECONNREFUSED');
    expect(body.error.job_id).toMatch(/^job_/);
    // Removed as it failed: it takes no place among the queue's failed operations.
    expect(await h.redis.zcard(`${h.prefix}:${hostQueueName('r2', 'h1')}:failed`)).toBe(0);
  });

  it('504 with the job’s link when the host does not answer in time (r1 has no worker here)', { timeout: 30_000 }, async () => {
    await h.writeInventory('r1', 'h1', [{ name: 'slow-vm', state: 'running' }]);
    const r = await h.fetch('/v1/vms/r1/slow-vm/console');
    expect(r.status).toBe(504);
    expect(r.headers.get('location')).toMatch(/^\/v1\/jobs\/job_/);
  });
});
