/**
 * What every handler can reach: the dependencies given to `createApp` and the per-request variables
 * the middleware sets (request id, the caller's token name).
 */
import type { Config, Scope } from '@provisioner/contracts';
import type { ConsoleStore, CordonStore, InventoryStore, JobQueue, RegionLock, VmLedger, WebhookStore } from '@provisioner/store';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Placer } from './admission/host-states.ts';
import type { IdempotencyTracker } from './idempotency.ts';
import type { Inventory } from './inventory.ts';
import type { ApiMetrics } from './metrics.ts';
import type { HostRefresher } from './services/refresh-hosts.ts';
import type { AuthThrottle } from './throttle.ts';
import type { JobWatcher } from './watch.ts';

export interface AppDeps {
  config: Config;
  redis: Redis;
  queues: JobQueue;
  logger: Logger;
}

/** Dependencies plus the services built from them once per app. */
export interface Services extends AppDeps {
  inventory: Inventory;
  /** What placement reads of a region's hosts, and the choice of a host for a create. */
  placer: Placer;
  /** On-demand inventory refreshes (a `refresh` job per host, waited for). */
  refresher: HostRefresher;
  /** Names, pending creates and each VM's line of operations in Redis. */
  ledger: VmLedger;
  /** The hosts' inventory, host info and image cache records as workers wrote them. */
  inventoryStore: InventoryStore;
  /** Which hosts are cordoned (get no new VMs), by whom and since when. */
  cordons: CordonStore;
  regionLock: RegionLock;
  watcher: JobWatcher;
  /** Failed-authentication throttle per client address (bearer tokens and dashboard sign-in). */
  throttle: AuthThrottle;
  /** This process's Prometheus metrics (GET /metrics). */
  metrics: ApiMetrics;
  /** Registered endpoints and each job's deliveries. */
  webhooks: WebhookStore;
  /** Console text a `console` job read, taken once by the request waiting for it. */
  console: ConsoleStore;
}

export interface Caller {
  name: string;
  scopes: readonly Scope[];
  /** Set when the token is bound to an owner: it sees only VMs and jobs with this `owner` tag (and no dashboard). */
  owner: string | null;
  rateLimit: { requests: number; per_seconds: number } | null;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    caller: Caller | null;
    /** Set by the idempotency middleware when the request carries an Idempotency-Key. */
    idempotency: IdempotencyTracker | undefined;
  };
}
