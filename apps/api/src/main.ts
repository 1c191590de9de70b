/**
 * API entry point: configuration (refuses to start, naming the wrong field), Redis, the HTTP server,
 * and a graceful SIGTERM (stop accepting, end event streams, let requests in flight finish).
 */
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { serve } from '@hono/node-server';
import { type Config, ConfigError, LOG_REDACT, loadConfig } from '@provisioner/contracts';
import { connectRedis, JobQueue } from '@provisioner/store';
import { pino } from 'pino';
import { createApp } from './app.ts';

/**
 * V8 lets the old generation grow up to four times what survived the last full collection on a machine with
 * more than 16 GB, so under load the API's heap held ~100 MiB of garbage over ~25 MiB live (RSS 200+ MiB).
 * Growing by at most half keeps it near the live size at the same request rate (BENCHMARKS.md, row 8), with no
 * hard cap that a large inventory could hit. Set by the entry point only, unless `node` was given its own
 * `--heap-growing-percent` (the operator's value wins; 0 is V8's default).
 */
export const HEAP_FLAGS = '--heap-growing-percent=50';

/** How long SIGTERM waits for requests in flight; their jobs go on in the workers either way. */
const SHUTDOWN_GRACE_MS = 10_000;
/** How long startup waits for Redis before serving anyway (answering 503 until it comes). */
const REDIS_STARTUP_WAIT_MS = 5_000;

export async function startApi(config: Config) {
  const logger = pino({ level: config.log_level, base: { service: 'api', pid: process.pid }, redact: LOG_REDACT });
  // Fail fast while Redis is down (no offline queue, one retry): clients get a 503 at once, not a hang.
  // Auto-pipelining: the commands concurrent requests issue in one tick of the event loop go out in one
  // write (a create's reads, its scripts and BullMQ's add: the API's Queues only add and read, they never block).
  const redis = connectRedis(config, { maxRetriesPerRequest: 1, enableOfflineQueue: false, enableAutoPipelining: true });
  let lastRedisError = '';
  redis.on('error', (e) => {
    if (e.message !== lastRedisError) logger.warn({ err: e.message }, 'redis error');
    lastRedisError = e.message;
  });
  redis.on('ready', () => {
    if (lastRedisError) logger.info('redis connection restored');
    lastRedisError = '';
  });
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, REDIS_STARTUP_WAIT_MS);
    redis.once('ready', () => {
      clearTimeout(t);
      resolve();
    });
  });
  const queues = new JobQueue(redis, config);
  const app = createApp({ config, redis, queues, logger });
  const server = serve({ fetch: app.fetch, port: config.port }, (info) => logger.info({ port: info.port, redis: redis.status }, 'api ready'));

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('shutting down');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await app.close();
      await Promise.race([closed, new Promise((r) => setTimeout(r, SHUTDOWN_GRACE_MS).unref())]);
      await queues.close().catch(() => undefined);
      await redis.quit().catch(() => redis.disconnect());
      logger.info('stopped');
    })();
    return stopping;
  };
  return { stop, server, app };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (!process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) setFlagsFromString(HEAP_FLAGS);
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(1);
    }
    throw e;
  }
  const api = await startApi(config);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      api.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}
