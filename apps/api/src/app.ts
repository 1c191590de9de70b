/**
 * The HTTP API as a Hono app, built from its dependencies so tests can serve it on a random port
 * against a Redis of their choosing.
 *
 * @example
 * const app = createApp({ config, redis, queues: new JobQueue(redis, config), logger });
 * serve({ fetch: app.fetch, port: 0 });
 * // … later
 * await app.close();
 */
import { WEBHOOK_QUEUE } from '@provisioner/contracts';
import { ConsoleStore, CordonStore, InventoryStore, RegionLock, VmLedger, WebhookStore } from '@provisioner/store';
import { Hono } from 'hono';
import { adminRoutes } from './admin/routes.ts';
import { Placer } from './admission/host-states.ts';
import { awaitOutcome } from './answers.ts';
import { limitBody } from './body.ts';
import type { AppDeps, AppEnv, Services } from './context.ts';
import { entryPoints } from './entry.ts';
import { notFound, onError } from './errors.ts';
import { idempotency } from './idempotency.ts';
import { Inventory } from './inventory.ts';
import { ApiMetrics } from './metrics.ts';
import { accessLog, auth, requestId, requireRedis } from './middleware.ts';
import { rateLimit } from './rate-limit.ts';
import { mountRoutes, openRoutes, pathsWithoutRedis } from './route.ts';
import { DOCS_PATHS, docsRoutes } from './routes/docs.ts';
import { ROUTES } from './routes/index.ts';
import { HostRefresher } from './services/refresh-hosts.ts';
import { AuthThrottle } from './throttle.ts';
import { uiRoutes } from './ui/routes.ts';
import { JobWatcher } from './watch.ts';

export type ApiApp = Hono<AppEnv> & {
  /** Ends open event streams and waits, and closes the QueueEvents connections. */
  close(): Promise<void>;
};

export function createApp(deps: AppDeps): ApiApp {
  // From the routes' metadata: those that answer while Redis is down (from the configuration, or checking
  // Redis themselves), and those that take no token.
  const withoutRedis = new Set([...pathsWithoutRedis(ROUTES), ...DOCS_PATHS]);
  const open = openRoutes(ROUTES);
  const watcher = new JobWatcher(deps.redis, deps.config, deps.logger);
  const prefix = deps.config.queue_prefix;
  const ledger = new VmLedger(deps.redis, prefix);
  const inventoryStore = new InventoryStore(deps.redis, prefix);
  const inventory = new Inventory(inventoryStore, ledger, deps.queues);
  const cordons = new CordonStore(deps.redis, prefix);
  const placer = new Placer(deps.config, inventory, inventoryStore, ledger, deps.queues, cordons);
  const refresher = new HostRefresher(deps.config, deps.queues, watcher, deps.logger);
  const throttle = new AuthThrottle(deps.redis, deps.config);
  const metrics = new ApiMetrics(deps.queues, {
    store: cordons,
    hosts: deps.config.regions.flatMap((r) => r.hosts.map((h) => ({ region: r.region_name, host: h.name }))),
  });
  const webhooks = new WebhookStore(deps.redis, deps.config, deps.queues.get(WEBHOOK_QUEUE));
  const s: Services = {
    ...deps,
    watcher,
    inventory,
    placer,
    refresher,
    throttle,
    ledger,
    inventoryStore,
    cordons,
    regionLock: new RegionLock(deps.redis, prefix),
    metrics,
    webhooks,
    console: new ConsoleStore(deps.redis, prefix, deps.config.user_data_key),
  };
  const redisUp = requireRedis(deps.redis);

  const app = new Hono<AppEnv>();
  app.use('*', metrics.middleware());
  app.use('*', requestId(deps.logger));
  app.use('*', accessLog(deps.logger));
  app.use('*', entryPoints());
  app.use('*', auth(deps.config, throttle, open));
  app.use('*', limitBody(deps.config.max_body_bytes));
  app.use('*', (c, next) => (withoutRedis.has(c.req.path) || c.req.path.startsWith('/docs/') ? next() : redisUp(c, next)));
  // Counted in Redis; the routes that work without Redis are not limited while it is down.
  const limiter = rateLimit(deps.redis, deps.config.queue_prefix);
  app.use('*', (c, next) => (withoutRedis.has(c.req.path) && deps.redis.status !== 'ready' ? next() : limiter(c, next)));
  app.use(
    '*',
    idempotency(s, (c, job, ms) => awaitOutcome(s, c, job, ms)),
  );

  mountRoutes(app, ROUTES, s);
  app.route('/', adminRoutes(s));
  app.route('/', uiRoutes(s));
  app.route('/', docsRoutes());

  app.onError(onError);
  app.notFound(notFound);

  return Object.assign(app, { close: () => watcher.close() });
}
