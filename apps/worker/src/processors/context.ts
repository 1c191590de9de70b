import type { Config } from '@provisioner/contracts';
import type { Hypervisor } from '@provisioner/libvirt';
import type { ConsoleStore, InventoryStore, JobQueue, VmLedger, WebhookStore } from '@provisioner/store';
import type { Job, Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { GuestPoller } from '../guest-poller.ts';
import type { StepRunner } from '../steps.ts';

/** The Redis state the worker reads and writes, each through its store. */
export interface WorkerStores {
  jobs: JobQueue;
  ledger: VmLedger;
  inventory: InventoryStore;
  console: ConsoleStore;
  /** Where VM events (vm.ready, vm.state_changed) are written for webhooks; absent: none are. */
  webhooks?: WebhookStore;
}

/** What every processor gets: the host it works on, the stores, its queue and a way to report steps. */
export interface ProcessorContext {
  job: Job;
  hv: Hypervisor;
  /** The host's looks at waited-for guests, one exec per tick for all of them. */
  guests: GuestPoller;
  stores: WorkerStores;
  config: Config;
  queue: Queue;
  log: Logger;
  steps: StepRunner;
  signal: AbortSignal;
  /** The worker's lock token of the job (a processor that re-schedules itself, `moveToDelayed`, needs it). */
  token?: string;
}
