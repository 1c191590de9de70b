/** WebhookStore and its scripts (webhookOutbox, webhookOutboxClaim) against the machine's Redis and real BullMQ queues. */
import { randomBytes } from 'node:crypto';
import { type Config, ConfigSchema, type JobView, recordTtl, WEBHOOK_QUEUE } from '@provisioner/contracts';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../src/keys.ts';
import { runScript } from '../src/scripts.ts';
import { WebhookStore } from '../src/webhook-store.ts';
import { REDIS_URL, useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('wh');
let config: Config;
let queue: Queue;
let hooks: WebhookStore;

beforeAll(() => {
  config = ConfigSchema.parse({
    queue_prefix: env.prefix,
    user_data_key: randomBytes(32).toString('base64'),
    regions: [
      {
        region_name: 'r1',
        hosts: [{ name: 'h1', address: '127.0.0.1', private_key_path: '/nonexistent', host_key_fingerprint: `SHA256:${'A'.repeat(43)}` }],
        available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 64, storage_mb: 64 }],
      },
    ],
  });
  queue = new Queue(WEBHOOK_QUEUE, { connection: env.redis, prefix: env.prefix });
  hooks = new WebhookStore(env.redis, config, queue);
});
afterAll(async () => {
  await queue.close();
});

function view(): JobView {
  const id = `job_${randomBytes(16).toString('hex')}`;
  const now = new Date().toISOString();
  return {
    id,
    kind: 'start',
    target: { region: 'r1', vm_name: 'vm', host: 'h1' },
    state: 'succeeded',
    progress: 100,
    step: null,
    steps: [],
    attempts: 1,
    created_at: now,
    started_at: now,
    finished_at: now,
    error: null,
    result: null,
    request_id: null,
    links: { self: `/v1/jobs/${id}`, events: `/v1/jobs/${id}/events`, cancel: `/v1/jobs/${id}/cancel` },
  } as JobView;
}

describe('WebhookStore', () => {
  it('keeps endpoint secrets encrypted in Redis and gives them back for signing only', async () => {
    const { endpoint, secret } = await hooks.createEndpoint({ url: 'https://example.test/a', events: ['job.failed', 'job.failed'], created_by: 'admin' });
    expect(endpoint.events).toEqual(['job.failed']);
    expect(JSON.stringify(await env.redis.hgetall(keys.webhookEndpoints(env.prefix)))).not.toContain(secret.slice(6));
    expect(JSON.stringify(await hooks.listEndpoints())).not.toContain('secret');
    expect((await hooks.endpointWithSecret(endpoint.id))?.secret).toBe(secret);
    const rotated = await hooks.rotateSecret(endpoint.id);
    expect((await hooks.endpointWithSecret(endpoint.id))?.secret).toBe(rotated?.secret);
    expect((await hooks.endpointWithSecret(endpoint.id))?.secrets).toEqual([rotated?.secret]);
    // With an overlap, the old secret signs beside the new one until its time, then no more.
    const next = await hooks.rotateSecret(endpoint.id, 60);
    const during = await hooks.endpointWithSecret(endpoint.id);
    expect(during?.secrets).toEqual([next?.secret, rotated?.secret]);
    expect(during?.overlap_until).toBe(next?.overlap_until);
    expect(JSON.stringify(await env.redis.hgetall(keys.webhookEndpoints(env.prefix)))).not.toContain(String(rotated?.secret).slice(6));
    expect((await hooks.endpointWithSecret(endpoint.id, Date.now() + 61_000))?.secrets).toEqual([next?.secret]);
    expect((await hooks.listEndpoints()).find((e) => e.id === endpoint.id)?.overlap_until).toBe(next?.overlap_until);
    // Rotating again without an overlap: only the newest signs.
    const last = await hooks.rotateSecret(endpoint.id);
    expect((await hooks.endpointWithSecret(endpoint.id))?.secrets).toEqual([last?.secret]);
    expect(await hooks.deleteEndpoint(endpoint.id)).toBe(true);
    expect(await hooks.deleteEndpoint(endpoint.id)).toBe(false);
  });

  it('records a delivery once however often its event is queued, with the retention TTL on its keys', async () => {
    const v = view();
    const callback = { url: 'https://receiver.test/hook?token=x', token: 'bot' };
    const [id] = await hooks.enqueueJobEvent('job.succeeded', v, callback);
    expect(id).toMatch(/^msg_[a-f0-9]{32}$/);
    expect(await hooks.enqueueJobEvent('job.succeeded', v, callback)).toEqual([]);
    expect(await env.redis.lrange(keys.webhookJobDeliveries(env.prefix, v.id), 0, -1)).toEqual([id]);
    for (const k of [keys.webhookDelivery(env.prefix, String(id)), keys.webhookJobDeliveries(env.prefix, v.id)]) {
      expect(await env.redis.ttl(k)).toBeGreaterThan(recordTtl(config) - 10);
    }
    expect(await queue.getJob(String(id))).toBeDefined();
    const [listed] = await hooks.deliveries(v.id);
    expect(listed).toMatchObject({ id, type: 'job.succeeded', endpoint_id: null, url: 'https://receiver.test/hook?…', state: 'pending', attempts: [] });
  });

  it('keeps a delivery it could not queue in the outbox, and a later drain queues it under the same id', async () => {
    const v = view();
    const callback = { url: 'https://receiver.test/hook', token: 'bot' };
    // A queue whose connection has been closed: its add fails (after the delivery was written).
    const gone = env.connect();
    const closed = new Queue(WEBHOOK_QUEUE, { connection: gone, prefix: env.prefix });
    await closed.waitUntilReady();
    await gone.quit();
    const made = await new WebhookStore(env.redis, config, closed).enqueueJobEvent('job.failed', v, callback);
    expect(made).toHaveLength(1);
    const id = String(made[0]);
    expect(await env.redis.zscore(keys.webhookOutbox(env.prefix), id)).not.toBeNull();
    expect(await queue.getJob(id)).toBeUndefined();
    // Written once: the same end written again (by a sweep, say) adds nothing.
    expect(await hooks.enqueueJobEvent('job.failed', v, callback, 'sweep')).toEqual([]);
    expect(await hooks.endedMarker(v.id)).toBe('job.failed event');
    expect(await hooks.drainOutbox()).toBeGreaterThanOrEqual(1);
    expect((await queue.getJob(id))?.data).toMatchObject({ id, job_id: v.id, type: 'job.failed', url: callback.url });
    expect(await env.redis.zscore(keys.webhookOutbox(env.prefix), id)).toBeNull();
  });

  it('a sender that took outbox entries and died leaves them to the next after the lease', async () => {
    const v = view();
    const gone = env.connect();
    const closed = new Queue(WEBHOOK_QUEUE, { connection: gone, prefix: env.prefix });
    await closed.waitUntilReady();
    await gone.quit();
    const [id = ''] = await new WebhookStore(env.redis, config, closed).enqueueJobEvent('job.succeeded', v, { url: 'https://r.test/', token: 'bot' });
    // Taken by a sender (leased) that never queued it: not due for anyone else until the lease ends.
    await runScript(env.redis, 'webhookOutboxClaim', [keys.webhookOutbox(env.prefix)], [Date.now(), Date.now() + 60_000, 100]);
    expect(await hooks.drainOutbox()).toBe(0);
    expect(await queue.getJob(id)).toBeUndefined();
    await env.redis.zadd(keys.webhookOutbox(env.prefix), Date.now() - 1, id); // the lease ran out
    expect(await hooks.drainOutbox()).toBe(1);
    expect(await queue.getJob(id)).toBeDefined();
  });

  it('a sweep writes the end of a finished job nobody wrote it for (a worker killed at its end), once', async () => {
    const hostQueue = new Queue('r1.h1', { connection: env.redis, prefix: env.prefix });
    const conn = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const worker = new Worker('r1.h1', async (job: Job) => (job.data.kind === 'stop' ? { ok: true } : Promise.reject(new Error('boom'))), {
      connection: conn,
      prefix: env.prefix,
    });
    const ok = `job_${randomBytes(16).toString('hex')}`;
    const bad = `job_${randomBytes(16).toString('hex')}`;
    const data = { region: 'r1', vm_name: 'vm', host: 'h1', submitted_by: 'bot', webhook_url: 'https://receiver.test/cb' };
    await hostQueue.add('stop', { ...data, kind: 'stop' }, { jobId: ok });
    await hostQueue.add('start', { ...data, kind: 'start' }, { jobId: bad });
    // A scheduler's job (not a public job id) is never swept.
    await hostQueue.add('refresh', { kind: 'refresh', region: 'r1', host: 'h1' }, { jobId: 'repeat:refresh:1' });
    for (let i = 0; i < 200 && ((await hostQueue.getCompletedCount()) < 1 || (await hostQueue.getFailedCount()) < 2); i++)
      await new Promise((r) => setTimeout(r, 25));
    await worker.close();
    await conn.quit();
    expect(await hooks.endedMarker(ok)).toBeNull();

    expect((await hooks.sweepEnded(hostQueue)).sort()).toEqual([ok, bad].sort());
    expect(await hooks.endedMarker(ok)).toBe('job.succeeded sweep');
    expect(await hooks.endedMarker(bad)).toBe('job.failed sweep');
    const [d] = await hooks.deliveries(ok);
    expect(d).toMatchObject({ type: 'job.succeeded', endpoint_id: null, url: 'https://receiver.test/cb' });
    expect(await queue.getJob(String(d?.id))).toBeDefined();
    expect(JSON.parse(String((await hooks.delivery(String(d?.id)))?.body)).data).toMatchObject({ id: ok, state: 'succeeded' });
    expect(await hooks.sweepEnded(hostQueue)).toEqual([]);
    await hostQueue.close();
  });

  it("writes VM events to the endpoints that chose them, to a create's webhook_url only when asked, each occurrence once", async () => {
    const ready = await hooks.createEndpoint({ url: 'https://r.test/ready', events: ['vm.ready'], created_by: 'admin' });
    const states = await hooks.createEndpoint({ url: 'https://r.test/states', events: ['vm.state_changed', 'job.failed'], created_by: 'admin' });
    const data = {
      region: 'r1',
      host: 'h1',
      vm_name: `vm-${randomBytes(3).toString('hex')}`,
      uuid: randomBytes(16).toString('hex'),
      state: 'running',
      addresses: [{ ip: '192.168.122.9', family: 'ipv4', source: 'lease' }],
      ip: '192.168.122.9',
      observed_at: new Date().toISOString(),
    };
    const asked = { url: 'https://r.test/cb', token: 'bot', events: ['vm.ready'] };
    const made = await hooks.enqueueVmEvent('vm.ready', { ...data, job_id: 'job_x' }, data.uuid, asked);
    expect(made).toHaveLength(2);
    const specs = await Promise.all(made.map((id) => hooks.delivery(id)));
    expect(specs.map((x) => x?.endpoint_id ?? x?.url).sort()).toEqual(['https://r.test/cb', ready.endpoint.id].sort());
    expect(JSON.parse(String(specs[0]?.body))).toEqual({ type: 'vm.ready', timestamp: data.observed_at, data: { ...data, job_id: 'job_x' } });
    // Seen again (by a refresh, say): the same webhook-ids, nothing new written.
    expect(await hooks.enqueueVmEvent('vm.ready', data, data.uuid)).toEqual([]);
    // A callback that did not ask gets none.
    const other = { ...data, uuid: randomBytes(16).toString('hex') };
    expect((await hooks.enqueueVmEvent('vm.ready', other, other.uuid, { url: 'https://r.test/cb', token: 'bot' })).length).toBe(1);
    const [changed] = await hooks.enqueueVmEvent('vm.state_changed', { ...data, state: 'shut off', previous_state: 'running' }, `${data.uuid}:x`);
    expect((await hooks.delivery(String(changed)))?.endpoint_id).toBe(states.endpoint.id);
    expect((await hooks.delivery(String(changed)))?.job_id).toBe(`vm:r1/${data.vm_name}`);
    expect(await queue.getJob(String(changed))).toBeDefined();
    await hooks.deleteEndpoint(ready.endpoint.id);
    await hooks.deleteEndpoint(states.endpoint.id);
  });

  it("sends job.progress to a job's webhook_url only when its request asked (webhook_events)", async () => {
    const v = { ...view(), state: 'running', step: 'download', progress: 40 } as JobView;
    expect(await hooks.enqueueJobEvent('job.progress', v, { url: 'https://r.test/p', token: 'bot' })).toEqual([]);
    const [id] = await hooks.enqueueJobEvent('job.progress', v, { url: 'https://r.test/p', token: 'bot', events: ['job.progress'] });
    expect((await hooks.delivery(String(id)))?.url).toBe('https://r.test/p');
  });

  it('logs every attempt and redelivers only a known delivery of that job', async () => {
    const v = view();
    const [id = ''] = await hooks.enqueueJobEvent('job.succeeded', v, { url: 'https://receiver.test/x', token: 'bot' });
    const at = new Date().toISOString();
    const attempt = { delivery_id: id, type: 'job.succeeded' as const, endpoint_id: null, url: 'https://receiver.test/x', attempt: 1, redelivery: false, at };
    await hooks.recordAttempt(v.id, { ...attempt, status_code: 500, duration_ms: 3, error: 'HTTP 500', outcome: 'retrying' });
    await hooks.recordAttempt(v.id, { ...attempt, attempt: 2, status_code: 200, duration_ms: 2, error: null, outcome: 'delivered' });
    expect((await hooks.attempts(v.id)).map((a) => a.outcome)).toEqual(['retrying', 'delivered']);
    expect((await hooks.deliveries(v.id))[0]).toMatchObject({ state: 'delivered', attempts: [{ attempt: 1 }, { attempt: 2 }] });
    // Its own delivery job still waits in the queue: not while that is in flight.
    expect(await hooks.redeliver(v.id, id)).toEqual({ outcome: 'in_flight', by: 'delivery' });
    await (await hooks.queue.getJob(id))?.remove(); // as retention removes a finished one
    expect(await hooks.redeliver(v.id, id)).toEqual({ outcome: 'queued' });
    expect(await hooks.redeliver(v.id, id)).toEqual({ outcome: 'in_flight', by: 'redelivery' });
    expect(await hooks.redeliver('job_other', id)).toEqual({ outcome: 'not_found' });
    expect(await hooks.redeliver(v.id, 'msg_nothex')).toEqual({ outcome: 'not_found' });
  });
});
