/**
 * Worker entry point: one BullMQ Worker per host queue, each host's operation limit enforced across all
 * worker processes by the queue's global concurrency, a scheduled inventory refresh and image cache job per host, its own
 * /health and /metrics (Prometheus, docs/metrics.md) on a small port, and a graceful SIGTERM.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Config, ConfigError, hostQueueName, LOG_REDACT, loadConfig } from '@provisioner/contracts';
import type { Hypervisor } from '@provisioner/libvirt';
import { ConsoleStore, connectRedis, duplicateRedis, InventoryStore, JobQueue, VmLedger } from '@provisioner/store';
import { type Job, Worker } from 'bullmq';
import { pino } from 'pino';
import { listenForCancels } from './cancel.ts';
import { GuestPoller } from './guest-poller.ts';
import { checkHostKeys, makeHypervisors } from './hosts.ts';
import { type LockWatch, watchLocks } from './lock-watch.ts';
import { metricsAccess, WorkerMetrics } from './metrics.ts';
import { type HostRuntime, makeProcessor, onJobEnded } from './processor.ts';
import type { WorkerStores } from './processors/context.ts';
import { CONSOLE_SEARCH_BYTES, READY_POLL_MS } from './processors/create.ts';
import { startWebhookWorker } from './webhooks.ts';

export async function startWorker(config: Config) {
  const log = pino({ level: config.log_level, base: { service: 'worker', pid: process.pid }, redact: LOG_REDACT });
  const redis = connectRedis(config, { maxRetriesPerRequest: null });
  redis.on('error', (e) => log.warn({ err: e.message }, 'redis error'));
  // The metrics observe every SSH command (the startup key check's too) and read the pools when scraped.
  const hypervisors = new Map<string, Hypervisor>();
  const metrics = new WorkerMetrics(hypervisors);
  for (const [host, hv] of makeHypervisors(config, (h, c) => metrics.sshCommandEnded(h, c))) hypervisors.set(host, hv);
  // A wrong pinned host key is a configuration error: refuse to start rather than fail every job.
  await checkHostKeys(config, hypervisors, log).catch(async (e: unknown) => {
    await Promise.all([...hypervisors.values()].map((h) => h.close()));
    redis.disconnect();
    throw e;
  });
  const workers: Worker[] = [];
  const lockWatches: LockWatch[] = [];
  const stores: WorkerStores = {
    jobs: new JobQueue(redis, config),
    ledger: new VmLedger(redis, config.queue_prefix),
    inventory: new InventoryStore(redis, config.queue_prefix),
    console: new ConsoleStore(redis, config.queue_prefix, config.user_data_key),
  };
  // Deliveries run on their own queue: host workers only enqueue events, never wait on receivers.
  // Its sweep checks every host queue's finished jobs for ends with no deliveries written.
  const hooks = startWebhookWorker(
    config,
    redis,
    log,
    (outcome, endpoint) => metrics.deliveryAttempted(outcome, endpoint),
    () => stores.jobs.all().map((h) => h.queue),
  );
  stores.webhooks = hooks.webhooks;

  for (const region of config.regions) {
    for (const host of region.hosts) {
      const name = hostQueueName(region.region_name, host.name);
      const queue = stores.jobs.get(name);
      queue.on('error', (e) => log.warn({ err: e.message, queue: name }, 'queue error'));
      await queue.setGlobalConcurrency(host.max_concurrent_operations);
      // Scheduled jobs are removed as soon as they end: BullMQ trims a queue's whole completed (or failed)
      // set to the count a job ends with, so a small count here would remove users' jobs from this queue
      // long before their retention. A run's outcome stays where it is read: a refresh's in the host's
      // inventory entry (/ready), an image-cache run's in the host's cache record (GET /v1/images), and
      // both in provisioner_worker_jobs_total.
      await queue.upsertJobScheduler(
        `refresh:${region.region_name}/${host.name}`,
        { every: config.worker.inventory_refresh_ms },
        {
          name: 'refresh',
          data: { kind: 'refresh', region: region.region_name, host: host.name, submitted_by: 'scheduler' },
          opts: { removeOnComplete: true, removeOnFail: true },
        },
      );
      const cacheId = `image-cache:${region.region_name}/${host.name}`;
      if (config.image_cache.interval_ms > 0) {
        await queue.upsertJobScheduler(
          cacheId,
          { every: config.image_cache.interval_ms },
          {
            name: 'image-cache',
            data: { kind: 'image-cache', region: region.region_name, host: host.name, submitted_by: 'scheduler' },
            opts: { removeOnComplete: true, removeOnFail: true },
          },
        );
      } else {
        await queue.removeJobScheduler(cacheId);
      }
      const hv = hypervisors.get(`${region.region_name}/${host.name}`);
      if (!hv) throw new Error(`no hypervisor for ${name}`);
      const rt: HostRuntime = { region: region.region_name, host: host.name, hv, guests: new GuestPoller(hv, READY_POLL_MS, CONSOLE_SEARCH_BYTES), queue };
      const worker = new Worker(name, makeProcessor(rt, stores, config, log, metrics), {
        connection: duplicateRedis(redis, { maxRetriesPerRequest: null }),
        prefix: config.queue_prefix,
        concurrency: host.max_concurrent_operations,
        lockDuration: config.worker.lock_duration_ms,
        stalledInterval: config.worker.stalled_interval_ms,
        maxStalledCount: config.worker.max_stalled_count,
      });
      worker.on('error', (e) => log.error({ err: e.message, queue: name }, 'worker error'));
      // A job whose lock this worker cannot renew (cut off from Redis) stops its host command before
      // another worker can take the job over (lock-watch.ts).
      lockWatches.push(watchLocks(worker, config.worker.lock_duration_ms, log.child({ queue: name })));
      const ended = (job: Job | undefined) =>
        void onJobEnded(rt, stores, job).catch((e: unknown) => log.warn({ err: String(e) }, 'settling a job’s end failed'));
      worker.on('completed', ended);
      worker.on('failed', ended);
      const forgetFailed = (e: unknown) => log.warn({ err: String(e) }, 'removing a removed job’s record failed');
      worker.on('completed', (job) => void stores.jobs.forgetIfRemoved(job, true).catch(forgetFailed));
      worker.on('failed', (job) => void (job && stores.jobs.forgetIfRemoved(job, false).catch(forgetFailed)));
      worker.on('completed', (job) => metrics.jobEnded(`${region.region_name}/${host.name}`, job, true));
      worker.on('failed', (job) => metrics.jobEnded(`${region.region_name}/${host.name}`, job, false));
      const hookFailed = (e: unknown) => log.warn({ err: String(e) }, 'queuing webhook deliveries failed');
      worker.on('completed', (job) => void hooks.onJobEnded(queue, job).catch(hookFailed));
      worker.on('failed', (job) => void hooks.onJobEnded(queue, job).catch(hookFailed));
      worker.on('progress', (job) => void hooks.onProgress(queue, job).catch(hookFailed));
      workers.push(worker);
    }
  }

  const stopCancels = await listenForCancels(stores.jobs, workers, log);

  const health = createServer((req, res) => {
    if (req.url === '/health') {
      const running = workers.every((w) => w.isRunning());
      res.writeHead(running ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: running ? 'healthy' : 'unhealthy', queues: workers.map((w) => w.name) }));
      return;
    }
    if (req.url === '/metrics') {
      // Like the API's /metrics: a token with the read scope; /health stays open for orchestrators.
      const access = metricsAccess(config, req.headers.authorization);
      if (access !== 200) {
        const message = access === 401 ? 'Invalid or missing API Token' : 'metrics need a token with the read scope and no owner';
        res
          .writeHead(access, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { code: access === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', message } }));
        return;
      }
      metrics.scrape().then(
        ({ body, contentType }) => res.writeHead(200, { 'content-type': contentType }).end(body),
        (e: unknown) => {
          log.warn({ err: String(e) }, 'metrics scrape failed');
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => health.listen(config.worker.port, config.worker.bind_address, r));
  const bound = health.address() as AddressInfo;
  log.info({ port: bound.port, queues: workers.map((w) => w.name), address: bound.address }, 'worker ready');

  let stopping: Promise<void> | null = null;
  /** Stop taking jobs, let running ones finish (or hand them back when closing times out), close SSH and Redis. */
  const stop = () => {
    stopping ??= (async () => {
      log.info('shutting down');
      await Promise.all(workers.map((w) => w.close()));
      for (const w of lockWatches) w.stop();
      await stopCancels();
      await hooks.close();
      await stores.jobs.close();
      await Promise.all([...hypervisors.values()].map((h) => h.close()));
      health.close();
      await redis.quit().catch(() => undefined);
      log.info('stopped');
    })();
    return stopping;
  };
  return { stop, port: () => (health.address() as { port: number }).port };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`provisioner-worker: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  const w = await startWorker(config).catch((e: unknown) => {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`provisioner-worker: ${e.message}\n`);
    process.exit(1);
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      void w.stop().then(() => process.exit(0));
    });
  }
}
