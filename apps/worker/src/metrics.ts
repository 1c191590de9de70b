/**
 * The worker's Prometheus metrics (docs/metrics.md lists each), served on its health port at
 * `/metrics` to a token with the read scope: jobs by kind and outcome, job (per host), step and
 * queue-wait durations, SSH command latency, SSH connections and channels per host (read from each
 * pool's counters when scraped) and webhook deliveries by outcome.
 */
import { type Config, decodeJobError, identifyToken, scopesAllow } from '@provisioner/contracts';
import { COMMAND_NAMES, type CommandObservation, type Hypervisor } from '@provisioner/libvirt';
import type { Job } from 'bullmq';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Seconds: steps and jobs run from milliseconds (start, tags) to many minutes (an image download). */
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** Seconds: one SSH command runs from milliseconds (a state read) to an hour (an image download). */
const SSH_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600];

/**
 * The commands the hypervisor library runs (its COMMAND_NAMES: its scripts' names and the programs it calls
 * directly; a create's one exec is `create-vm`, its steps' own durations are
 * provisioner_worker_step_duration_seconds'); anything else is `other`, so the label's values stay a fixed set.
 */
export const SSH_COMMANDS: ReadonlySet<string> = new Set(COMMAND_NAMES);

/**
 * Who may read `/metrics`: as for the API's, a configured token with the read scope and no owner (the
 * figures cover every owner's jobs); 401 without a token, 403 with another.
 */
export function metricsAccess(config: Config, authorization: string | undefined): 200 | 401 | 403 {
  const found = identifyToken(config, authorization);
  if (!found) return 401;
  return scopesAllow(found.token.scopes, 'read') && !found.token.owner ? 200 : 403;
}

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
  private readonly jobDuration: Histogram<'host' | 'kind' | 'outcome'>;
  private readonly sshDuration: Histogram<'host' | 'command' | 'outcome'>;
  private readonly stepDuration: Histogram<'kind' | 'step' | 'outcome'>;
  private readonly queueWait: Histogram<'queue' | 'kind'>;
  private readonly deliveries: Counter<'outcome'>;
  private readonly endpointDeliveries: Counter<'endpoint' | 'outcome'>;

  /** `hypervisors` keyed `region/host`, as makeHypervisors builds them; read when scraped, so it may be filled later. */
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
      help: 'Duration of one job attempt, from its start in this worker to its end, by host (region/host), kind and outcome',
      labelNames: ['host', 'kind', 'outcome'],
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
    this.sshDuration = new Histogram({
      name: 'provisioner_ssh_command_duration_seconds',
      help: 'Duration of one remote command, waiting for a channel and the connection included, by host (region/host), command and outcome (ok, failed, error)',
      labelNames: ['host', 'command', 'outcome'],
      buckets: SSH_BUCKETS,
      registers,
    });
    this.deliveries = new Counter({
      name: 'provisioner_webhook_deliveries_total',
      help: 'Webhook delivery attempts made by this worker, by outcome (delivered, retrying, failed, refused, skipped)',
      labelNames: ['outcome'],
      registers,
    });
    this.endpointDeliveries = new Counter({
      name: 'provisioner_webhook_endpoint_deliveries_total',
      help: 'Webhook delivery attempts made by this worker, by destination (a registered endpoint id, or webhook_url for jobs’ own URLs) and outcome',
      labelNames: ['endpoint', 'outcome'],
      registers,
    });
    const perHost = (name: string, help: string, type: 'counter' | 'gauge', read: (hv: Hypervisor) => number) => {
      const collect = function (this: Counter<'host'> | Gauge<'host'>) {
        this.reset();
        for (const [host, hv] of hypervisors) (this as Gauge<'host'>).inc({ host }, read(hv));
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

  /** From the worker's `completed` and `failed` events of the queue of `host` (`region/host`, a configured one). */
  jobEnded(host: string, job: Job | undefined, completed: boolean): void {
    if (!job) return;
    const kind = String((job.data as { kind?: unknown }).kind ?? job.name);
    const outcome = jobOutcome(job, completed);
    this.jobs.inc({ kind, outcome });
    if (job.processedOn) this.jobDuration.observe({ host, kind, outcome }, Math.max(0, (Date.now() - job.processedOn) / 1000));
  }

  /** From each host's SSH pool (SshOptions.onCommand), after every remote command. */
  sshCommandEnded(host: string, c: CommandObservation): void {
    const command = SSH_COMMANDS.has(c.command) ? c.command : 'other';
    this.sshDuration.observe({ host, command, outcome: c.outcome }, c.seconds);
  }

  /** From the StepRunner, after each step. */
  stepEnded(kind: string, step: string, seconds: number, ok: boolean): void {
    this.stepDuration.observe({ kind, step, outcome: ok ? 'succeeded' : 'failed' }, seconds);
  }

  /** From the webhook worker, after each delivery attempt. */
  deliveryAttempted(outcome: string, endpoint: string | null = null): void {
    this.deliveries.inc({ outcome });
    // By id, never by URL (a URL may carry a receiver's token).
    this.endpointDeliveries.inc({ endpoint: endpoint ?? 'webhook_url', outcome });
  }

  async scrape(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
