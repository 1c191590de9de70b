/**
 * Closing the queues while Redis is unreachable: BullMQ's close of a queue on a shared connection drops
 * the connection's listeners while its first wait for "ready" is still pending, so when the client then
 * ends, that wait's ECONNREFUSED was emitted with no listener and surfaced as an unhandled rejection
 * (seen in CI as five errors in the API's redis-down test, one per host queue).
 */
import { createServer } from 'node:net';
import { ConfigSchema } from '@provisioner/contracts';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { JobQueue } from '../src/index.ts';

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

it('closes queues on an unreachable Redis without an unhandled rejection when the client ends', async () => {
  const url = `redis://127.0.0.1:${await closedPort()}`;
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  const config = ConfigSchema.parse({
    redis_url: url,
    queue_prefix: '{closed}',
    user_data_key: Buffer.alloc(32, 1).toString('base64'),
    tokens: [{ name: 'a', token: 'a'.repeat(24), scopes: ['admin'] }],
    images: { i: { url: 'https://example.org/i.qcow2' } },
    regions: [
      {
        region_name: 'r1',
        hosts: [{ name: 'h1', address: '127.0.0.1', port: 22, private_key_path: '/k', host_key_fingerprint: `SHA256:${'A'.repeat(43)}` }],
        available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 512, storage_mb: 4096 }],
      },
    ],
  });
  const queues = new JobQueue(redis, config);
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    expect(queues.all()).toHaveLength(1);
    // The queue's wait for "ready" has seen the refused connection…
    await new Promise((r) => redis.once('error', r));
    await queues.close();
    // …and the client ends after the queue closed.
    redis.disconnect();
    await new Promise((r) => setTimeout(r, 200));
    expect(unhandled.map(String)).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
