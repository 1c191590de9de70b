/** WebhookStore and its script (webhookAddDelivery) against the machine's Redis and a real BullMQ queue. */
import { randomBytes } from 'node:crypto';
import { type Config, ConfigSchema, type JobView, recordTtl, WEBHOOK_QUEUE } from '@provisioner/contracts';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../src/keys.ts';
import { WebhookStore } from '../src/webhook-store.ts';
import { useRedisPrefix } from './redis-prefix.ts';

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
    expect((await hooks.endpointWithSecret(endpoint.id))?.secret).toBe(rotated);
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

  it('forgets a delivery it could not queue, so the same event queued again is sent', async () => {
    const v = view();
    const callback = { url: 'https://receiver.test/hook', token: 'bot' };
    // A queue whose connection has been closed: its add fails (after the delivery was recorded).
    const gone = env.connect();
    const closed = new Queue(WEBHOOK_QUEUE, { connection: gone, prefix: env.prefix });
    await closed.waitUntilReady();
    await gone.quit();
    await expect(new WebhookStore(env.redis, config, closed).enqueueJobEvent('job.failed', v, callback)).rejects.toThrow();
    expect(await env.redis.exists(keys.webhookJobDeliveries(env.prefix, v.id))).toBe(0);
    const made = await hooks.enqueueJobEvent('job.failed', v, callback);
    expect(made).toHaveLength(1);
    expect(await env.redis.exists(keys.webhookDelivery(env.prefix, String(made[0])))).toBe(1);
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
    expect(await hooks.redeliver(v.id, id)).toBe('queued');
    expect(await hooks.redeliver('job_other', id)).toBe('not_found');
    expect(await hooks.redeliver(v.id, 'msg_nothex')).toBe('not_found');
  });
});
