import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { connectRedis, duplicateRedis, isCluster, scanKeys } from '../src/redis.ts';

describe('redis connections', () => {
  it('opens a Sentinel client, a Cluster client or a plain one, and duplicates each as itself', async () => {
    const lazy = { lazyConnect: true };
    const sentinel = connectRedis({ redis_url: 'redis://x', redis: { sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'm' } }, lazy);
    expect(isCluster(sentinel)).toBe(false);
    expect(sentinel.options.sentinels).toEqual([{ host: '127.0.0.1', port: 1 }]);
    expect(duplicateRedis(sentinel, lazy).options.name).toBe('m');
    const cluster = connectRedis(
      { redis_url: 'redis://x', redis: { cluster: { nodes: [{ host: '127.0.0.1', port: 1 }] }, password: 'pw' } },
      { ...lazy, maxRetriesPerRequest: null },
    );
    expect(isCluster(cluster)).toBe(true);
    const dup = duplicateRedis(cluster, { lazyConnect: true, enableOfflineQueue: false });
    expect(isCluster(dup)).toBe(true);
    expect((dup as unknown as { options: { redisOptions: Record<string, unknown> } }).options.redisOptions).toMatchObject({
      password: 'pw',
      maxRetriesPerRequest: null,
    });
    for (const c of [sentinel, cluster, dup]) c.disconnect();
  });

  it('scans every key of a pattern on a single server', async () => {
    const r = connectRedis({ redis_url: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' });
    const p = `{t-scan-${Math.random().toString(16).slice(2)}}`;
    await r.mset(...Array.from({ length: 1500 }, (_, i) => [`${p}:k${i}`, '1']).flat());
    expect((await scanKeys(r, `${p}:*`)).length).toBe(1500);
    await r.del(...(await scanKeys(r, `${p}:*`)));
    expect(r).toBeInstanceOf(Redis);
    await r.quit();
  });
});
