/**
 * Redis connections for both apps: a single server (`redis_url`), a Sentinel-monitored master
 * (`redis.sentinels` + `redis.name`: ioredis asks the sentinels for the master and follows failovers) or a
 * Redis Cluster (`redis.cluster.nodes`). Every key and queue carries the `queue_prefix` hash tag, so in a
 * cluster they all live in one slot and multi-key commands and Lua scripts keep working.
 *
 * A Cluster client is handed around as `Redis` (the commands the apps use have the same shape); the two
 * places where they differ, duplicating a connection and SCAN, go through the helpers here.
 */

import type { Config } from '@provisioner/contracts';
import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** Whether the client is a Redis Cluster client (ioredis marks them). */
export function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
}

/** Opens the configured Redis with `options` (retry and offline-queue behaviour of the caller). */
export function connectRedis(config: Pick<Config, 'redis_url' | 'redis'>, options: RedisOptions = {}): Redis {
  const r = config.redis;
  const auth: RedisOptions = { ...(r?.username ? { username: r.username } : {}), ...(r?.password ? { password: r.password } : {}) };
  if (r?.cluster) {
    const { enableOfflineQueue, lazyConnect, ...redisOptions } = options;
    const cluster = new Cluster(r.cluster.nodes, {
      redisOptions: { ...auth, ...redisOptions },
      ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
      ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    });
    return cluster as unknown as Redis;
  }
  if (r?.sentinels) {
    return new Redis({
      sentinels: r.sentinels,
      name: r.name,
      // Follow a failover at once (the sentinels announce the new master), and reconnect when a command
      // reaches a master that was demoted meanwhile (it answers READONLY).
      failoverDetector: true,
      reconnectOnError: (e) => (e.message.startsWith('READONLY') ? 2 : false),
      ...(r.sentinel_password ? { sentinelPassword: r.sentinel_password } : {}),
      ...auth,
      ...options,
    });
  }
  return new Redis(config.redis_url, { ...auth, ...options });
}

/**
 * A new connection like `redis` (same server, sentinels or cluster) with `options` changed. Never
 * auto-pipelined unless asked (the API's own connection is): duplicates are for blocking reads and
 * subscriptions.
 */
export function duplicateRedis(redis: Redis, options: RedisOptions = {}): Redis {
  if (!isCluster(redis)) return redis.duplicate({ enableAutoPipelining: false, ...options });
  const cluster = redis as unknown as Cluster;
  const { enableOfflineQueue, lazyConnect, ...redisOptions } = options;
  return cluster.duplicate([], {
    redisOptions: { ...cluster.options.redisOptions, ...redisOptions },
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
  }) as unknown as Redis;
}

/** Every key matching `pattern` (SCAN; in a cluster, on every master). */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const nodes = isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
  const out: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      out.push(...found);
    } while (cursor !== '0');
  }
  return out;
}
