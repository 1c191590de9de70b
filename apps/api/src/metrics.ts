/**
 * The API's Prometheus metrics (docs/metrics.md lists each): requests by route pattern, method and
 * status, their latency, jobs submitted by kind, and — read from Redis at scrape time, so every API
 * replica reports the same numbers — each queue's depth per state and the age of its oldest waiting job.
 */
import { WEBHOOK_QUEUE } from '@provisioner/contracts';
import type { CordonStore, HostRef, JobQueue } from '@provisioner/store';
import type { Queue } from 'bullmq';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AppEnv } from './context.ts';

/** BullMQ states reported as queue depth (`wait` is BullMQ's name for waiting). */
export const QUEUE_STATES = ['wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'paused', 'completed', 'failed'] as const;

/** Latency buckets in seconds: API calls are mostly milliseconds; legacy routes wait for their job (minutes). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The route pattern a request matched (`/v1/vms/:region/:name`), so labels stay few whatever the
 * paths: the endpoint's pattern, else the most specific middleware pattern (`/admin/*`), else `unmatched`.
 */
export function routeLabel(routes: ReadonlyArray<{ method: string; path: string }>): string {
  const specific = routes.filter((r) => r.path !== '*' && r.path !== '/*');
  return (specific.find((r) => r.method !== 'ALL') ?? specific.at(-1))?.path ?? 'unmatched';
}

export class ApiMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly latency: Histogram<'method' | 'route'>;
  private readonly submitted: Counter<'kind'>;

  constructor(queues: JobQueue, cordons?: { store: CordonStore; hosts: readonly HostRef[] }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'provisioner_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status code',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'provisioner_http_request_duration_seconds',
      help: 'Time from receiving a request to its response headers, by route pattern and method',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.submitted = new Counter({
      name: 'provisioner_jobs_submitted_total',
      help: 'Jobs queued by this API process, by kind',
      labelNames: ['kind'],
      registers,
    });
    const all = (): Queue[] => [...queues.all().map((q) => q.queue), queues.get(WEBHOOK_QUEUE)];
    new Gauge({
      name: 'provisioner_queue_jobs',
      help: 'Jobs in each queue, by BullMQ state (read from Redis when scraped)',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        // While Redis is down the request metrics are still served, without queue series.
        if (queues.redis.status !== 'ready') return;
        for (const q of all()) {
          const counts = await q.getJobCounts(...QUEUE_STATES);
          for (const state of QUEUE_STATES) this.set({ queue: q.name, state }, counts[state] ?? 0);
        }
      },
    });
    const cap = queues.config.retention_max_jobs;
    new Gauge({
      name: 'provisioner_queue_retention_cap',
      help: 'Finished jobs kept per queue and outcome (retention_max_jobs); past it the oldest go before their retention ends',
      registers,
      collect() {
        this.set(cap);
      },
    });
    new Gauge({
      name: 'provisioner_queue_retention_full',
      help: '1 when the queue holds retention_max_jobs finished jobs of this state (completed, failed): its oldest are being removed early',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        if (queues.redis.status !== 'ready') return;
        for (const q of all()) {
          const counts = await q.getJobCounts('completed', 'failed');
          for (const state of ['completed', 'failed'] as const) this.set({ queue: q.name, state }, (counts[state] ?? 0) >= cap ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'provisioner_queue_oldest_waiting_seconds',
      help: 'Age of the oldest job waiting to start in each queue (0 when none waits)',
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset();
        if (queues.redis.status !== 'ready') return;
        const now = Date.now();
        for (const q of all()) {
          // The oldest of each list (BullMQ reads the range per state): take the older of them.
          const firsts = await q.getJobs(['wait', 'prioritized'], 0, 0, true);
          const oldest = Math.min(now, ...firsts.map((j) => j.timestamp));
          this.set({ queue: q.name }, Math.max(0, (now - oldest) / 1000));
        }
      },
    });
    if (cordons) {
      new Gauge({
        name: 'provisioner_host_cordoned',
        help: '1 while the host is cordoned (gets no new VMs), 0 otherwise (read from Redis when scraped)',
        labelNames: ['region', 'host'],
        registers,
        async collect() {
          this.reset();
          if (queues.redis.status !== 'ready') return;
          const found = await cordons.store.many(cordons.hosts);
          for (const [i, h] of cordons.hosts.entries()) this.set({ region: h.region, host: h.host }, found[i] ? 1 : 0);
        },
      });
    }
    queues.onSubmit((kind) => this.submitted.inc({ kind }));
  }

  /** Counts and times every request; put it first, so 401s, 404s and errors are counted too. */
  middleware(): MiddlewareHandler<AppEnv> {
    return async (c, next) => {
      const start = performance.now();
      try {
        await next();
      } finally {
        const route = routeLabel(matchedRoutes(c));
        const method = c.req.method;
        this.requests.inc({ method, route, status: String(c.res.status) });
        this.latency.observe({ method, route }, (performance.now() - start) / 1000);
      }
    };
  }

  /** The exposition text, and its content type. */
  async scrape(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
