/**
 * On-demand refreshes: a `refresh` job per host, run by the host's worker, waited for within
 * config.refresh_wait_ms (the list and legacy routes' `refresh`). Workers also refresh on a schedule.
 * Like the scheduled ones, these jobs are removed as soon as they end (JobQueue.submit): polling a listing
 * with `refresh=true` never uses up `retention_max_jobs`, nor fills `GET /v1/jobs`, where a refresh shows
 * only while it is queued or running.
 */
import { type Config, isTerminal, type RegionConfig } from '@provisioner/contracts';
import type { JobQueue } from '@provisioner/store';
import type { Logger } from 'pino';
import type { JobWatcher } from '../watch.ts';

export class HostRefresher {
  /** Refreshes in flight per host: concurrent list requests share one refresh job. */
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly config: Config,
    private readonly queues: JobQueue,
    private readonly watcher: JobWatcher,
    private readonly logger: Logger,
  ) {}

  /**
   * Lists the regions' hosts again through the workers (a `refresh` job per host) and waits for them,
   * at most config.refresh_wait_ms in all. A host that does not answer in time keeps its last entry;
   * its `observed_at` says how old that is.
   */
  async refresh(regions: readonly RegionConfig[], by: { submitted_by: string; request_id: string }): Promise<void> {
    const deadline = Date.now() + this.config.refresh_wait_ms;
    const hosts = regions.flatMap((r) => r.hosts.map((h) => ({ region: r.region_name, host: h.name })));
    await Promise.all(
      hosts.map((h) => {
        const key = `${h.region}/${h.host}`;
        let p = this.inflight.get(key);
        if (!p) {
          p = this.refreshHost(h.region, h.host, by, deadline).finally(() => this.inflight.delete(key));
          this.inflight.set(key, p);
        }
        return Promise.race([p, new Promise<void>((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
      }),
    );
  }

  private async refreshHost(region: string, host: string, by: { submitted_by: string; request_id: string }, deadline: number): Promise<void> {
    const job = await this.queues.submit({ kind: 'refresh', region, host, ...by });
    const id = String(job.id);
    const queue = this.queues.get(job.queueName);
    const end = await this.watcher.waitFor(queue, id, Math.max(1, deadline - Date.now()));
    // A refresh is removed as it ends (JobQueue.submit): the watch then ends with the last view it saw, or
    // none. Gone means ended (its outcome, an error too, is the host's entry, which the listing shows).
    if (end && isTerminal(end.state) ? end.state === 'succeeded' : !(await this.queues.find(id))) return;
    this.logger.warn({ region, host, job_id: id, state: end?.state ?? 'gone', request_id: by.request_id }, 'inventory refresh did not finish in time');
  }
}
