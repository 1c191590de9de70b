/**
 * The worker's Prometheus metrics (docs/metrics.md lists each), served on its health port at
 * `/metrics`: jobs by kind and outcome, job, step and queue-wait durations, SSH connections and
 * channels per host (read from each pool's counters when scraped) and webhook deliveries by outcome.
 */
import { decodeJobError } from '@provisioner/contracts';
import type { Hypervisor } from '@provisioner/libvirt';
import type { Job } from 'bullmq';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds: steps and jobs run from milliseconds (start, tags) to many minutes (an image download). */
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export type JobOutcome = 'succeeded' | 'failed' | 'canceled' | 'retried';

/** What a job's end means: `retried` when BullMQ will run it again (it has no finishedOn yet). */
export function jobOutcome(job: Pick<Job, 'finishedOn' | 'failedReason'>, completed: boolean): JobOutcome {
  if (completed) return 'succeeded';
  if (!job.finishedOn) return 'retried';
  return decodeJobError(job.failedReason)?.code === 'CANCELED' ? 'canceled' : 'failed';
}

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly jobs: Counter<'kind' | 'outcome'>;
  private readonly jobDuration: Histogram<'kind' | 'outcome'>;
  private readonly stepDuration: Histogram<'kind' | 'step' | 'outcome'>;
  private readonly queueWait: Histogram<'queue' | 'kind'>;
  private readonly deliveries: Counter<'outcome'>;

  /** `hypervisors` keyed `region/host`, as makeHypervisors builds them. */
  constructor(hypervisors: ReadonlyMap<string, Hypervisor>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.jobs = new Counter({
      name: 'provisioner_worker_jobs_total',
      help: 'Job attempts ended in this worker, by kind and outcome (succeeded, failed, canceled, retried)',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.jobDuration = new Histogram({
      name: 'provisioner_worker_job_duration_seconds',
      help: 'Duration of one job attempt, from its start in this worker to its end, by kind and outcome',
      labelNames: ['kind', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.stepDuration = new Histogram({
      name: 'provisioner_worker_step_duration_seconds',
      help: 'Duration of one job step, by job kind, step and outcome (succeeded, failed)',
      labelNames: ['kind', 'step', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.queueWait = new Histogram({
      name: 'provisioner_worker_queue_wait_seconds',
      help: 'Time from a job being queued to the start of its first attempt (including waiting for its VM’s turn), by queue and kind',
      labelNames: ['queue', 'kind'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.deliveries = new Counter({
      name: 'provisioner_webhook_deliveries_total',
      help: 'Webhook delivery attempts made by this worker, by outcome (delivered, retrying, failed, refused, skipped)',
      labelNames: ['outcome'],
      registers,
    });
    const hosts = [...hypervisors];
    const perHost = (name: string, help: string, type: 'counter' | 'gauge', read: (hv: Hypervisor) => number) => {
      const collect = function (this: Counter<'host'> | Gauge<'host'>) {
        this.reset();
        for (const [host, hv] of hosts) (this as Gauge<'host'>).inc({ host }, read(hv));
      };
      const o = { name, help, labelNames: ['host'] as const, registers, collect };
      return type === 'counter' ? new Counter(o) : new Gauge(o);
    };
    perHost('provisioner_ssh_connections_total', 'SSH connections opened to each host (region/host)', 'counter', (hv) => hv.ssh.stats.connects);
    perHost('provisioner_ssh_channels_total', 'SSH channels (remote commands) opened on each host', 'counter', (hv) => hv.ssh.stats.channels);
    perHost('provisioner_ssh_channels_in_use', 'Commands running (or waiting for the connection) on each host now', 'gauge', (hv) => hv.ssh.channelsInUse);
    perHost('provisioner_ssh_connected', '1 while the pooled SSH connection to the host is open', 'gauge', (hv) => (hv.ssh.connected ? 1 : 0));
  }

  /** A job's attempt really starts (its VM's turn has come): the first attempt records its queue wait. */
  jobStarted(queue: string, job: Job, kind: string): void {
    if (job.attemptsMade === 0) this.queueWait.observe({ queue, kind }, Math.max(0, (Date.now() - job.timestamp) / 1000));
  }

  /** From the worker's `completed` and `failed` events. */
  jobEnded(job: Job | undefined, completed: boolean): void {
    if (!job) return;
    const kind = String((job.data as { kind?: unknown }).kind ?? job.name);
    const outcome = jobOutcome(job, completed);
    this.jobs.inc({ kind, outcome });
    if (job.processedOn) this.jobDuration.observe({ kind, outcome }, Math.max(0, (Date.now() - job.processedOn) / 1000));
  }

  /** From the StepRunner, after each step. */
  stepEnded(kind: string, step: string, seconds: number, ok: boolean): void {
    this.stepDuration.observe({ kind, step, outcome: ok ? 'succeeded' : 'failed' }, seconds);
  }

  /** From the webhook worker, after each delivery attempt. */
  deliveryAttempted(outcome: string): void {
    this.deliveries.inc({ outcome });
  }

  async scrape(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
