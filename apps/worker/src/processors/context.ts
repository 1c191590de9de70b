import type { Config } from '@provisioner/contracts';
import type { Hypervisor } from '@provisioner/libvirt';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { StepRunner } from '../steps.ts';

/** What every processor gets: the host it works on, Redis, its queue and a way to report steps. */
export interface ProcessorContext {
  job: Job;
  hv: Hypervisor;
  redis: Redis;
  config: Config;
  queue: Queue;
  log: Logger;
  steps: StepRunner;
  signal: AbortSignal;
}
