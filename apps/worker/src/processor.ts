import { type Config, callbackOf, canceledError, isHostJob, isWaitingReady, JobPayload, redactText, stepsOf, type VmJobPayload } from '@provisioner/contracts';
import { type Hypervisor, isLibvirtError } from '@provisioner/libvirt';
import { endOutcome } from '@provisioner/store';
import { DelayedError, type Job, type Queue } from 'bullmq';
import type { Logger } from 'pino';
import { toBullError, toJobError, WorkerError } from './errors.ts';
import type { GuestPoller } from './guest-poller.ts';
import { updateInventoryVm } from './inventory.ts';
import { lockLost } from './lock-watch.ts';
import type { WorkerMetrics } from './metrics.ts';
import type { ProcessorContext, WorkerStores } from './processors/context.ts';
import { type SeenVm, stepWeights } from './processors/define.ts';
import { PROCESSOR_OF } from './processors/index.ts';
import { StepRunner } from './steps.ts';
import type { VmEvent } from './vm-events.ts';

export interface HostRuntime {
  region: string;
  host: string;
  hv: Hypervisor;
  guests: GuestPoller;
  queue: Queue;
}

/** How long a job whose VM is busy waits before it looks again (it is also promoted when its turn comes). */
const TURN_POLL_MS = 1000;

/** Builds the BullMQ processor for one host's queue. */
export function makeProcessor(rt: HostRuntime, stores: WorkerStores, config: Config, log: Logger, metrics?: WorkerMetrics) {
  return async (job: Job, token?: string, signal?: AbortSignal): Promise<unknown> => {
    const parsed = JobPayload.safeParse(job.data);
    if (!parsed.success) throw toBullError(toJobError(parsed.error));
    const p = parsed.data;
    const def = PROCESSOR_OF.get(p.kind);
    if (!def) throw toBullError(new WorkerError('INTERNAL', `no processor for job kind ${p.kind}`, false));
    const vm = isHostJob(p) ? null : p;
    if (vm && !(await stores.ledger.isMyTurn(rt.queue, vm.region, vm.vm_name, String(job.id)))) {
      await job.moveToDelayed(Date.now() + TURN_POLL_MS, token);
      throw new DelayedError();
    }
    const jlog = log.child({ job_id: job.id, kind: p.kind, vm: vm?.vm_name, host: `${rt.region}/${rt.host}`, request_id: p.request_id });
    const names = stepsOf(p);
    const steps = new StepRunner(job, names, stepWeights(def, names), (step, s, ok) => metrics?.stepEnded(p.kind, step, s, ok));
    const ctx: ProcessorContext = {
      job,
      hv: rt.hv,
      guests: rt.guests,
      stores,
      config,
      queue: rt.queue,
      log: jlog,
      steps,
      signal: signal ?? new AbortController().signal,
      token,
    };
    // A create back for another look at its guest (every READY_POLL_MS) has started already: not logged again.
    if (!isWaitingReady(job.data)) {
      jlog.info({ attempt: job.attemptsMade + 1 }, 'job started');
      metrics?.jobStarted(rt.queue.name, job, p.kind);
      await steps.log(`attempt ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1} started on ${rt.region}/${rt.host}`);
    }
    // Canceled before it started: while it waited for its turn or a retry, or before a stall handed it here.
    const canceledBy = await stores.jobs.cancelRequestedBy(String(job.id));
    try {
      if (canceledBy) throw new WorkerError('CANCELED', `canceled by ${canceledBy}`, false);
      const { result, seen } = await def.run(ctx, p);
      jlog.info('job succeeded');
      if (vm) await finish(ctx, vm, seen);
      return result;
    } catch (e) {
      if (e instanceof DelayedError) throw e; // it comes back later (moved to delayed): no outcome yet
      // Aborted because this worker could not renew the job's lock (lock-watch.ts): another worker may have
      // the job now, so nothing here may fail it, clean up or write its steps. Handed back as a stall
      // would be, without using an attempt: when the lock is still this worker's once Redis answers, the
      // job waits a backoff and runs again (its steps check the host first); when it is not, moving it
      // fails on the lock and the job is left to the worker that has it.
      if (lockLost(ctx.signal)) {
        jlog.warn({ err: String(e) }, 'job lock lost: its host command was stopped; handing the job back');
        await job.moveToDelayed(Date.now() + config.worker.backoff_ms, token);
        throw new DelayedError();
      }
      let err = toJobError(e);
      // Aborted on request: whatever the interrupted step threw, the job ends canceled and is not retried.
      const by = err.code === 'CANCELED' || ctx.signal.aborted ? await stores.jobs.cancelRequestedBy(String(job.id)).catch(() => null) : null;
      if (by) err = canceledError(by);
      const final = !err.retryable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      // Clients see the host by its configured name; the log also says how it was reached (user@address:port).
      const ssh = isLibvirtError(e)
        ? { address: e.context.host, reason: typeof e.context.reason === 'string' ? redactText(e.context.reason) : undefined }
        : undefined;
      jlog.warn({ err: { code: err.code, message: err.message }, ssh, final, cause: err.code === 'INTERNAL' ? String(e) : undefined }, 'job attempt failed');
      await steps.log(`attempt failed (${err.code}${err.retryable ? ', retryable' : ''}): ${err.message}${final ? '' : '; will retry'}`);
      if (final) {
        await def.onFinalFailure?.(ctx, p).catch((ce: unknown) => jlog.error({ err: String(ce) }, `undoing what the failed ${p.kind} left did not finish`));
        if (vm) await finish(ctx, vm);
      }
      throw toBullError(err);
    }
  };

  /** Writes what the VM now looks like to its host's inventory (its end is settled once BullMQ records the outcome). */
  async function finish(ctx: ProcessorContext, vm: VmJobPayload, seen?: SeenVm): Promise<void> {
    // A create whose guest became ready announces it (vm.ready), to its webhook_url too when the request asked.
    const onVmEvents = async (events: VmEvent[]) => {
      for (const e of events) await stores.webhooks?.enqueueVmEvent(e.type, { ...e.data, job_id: String(ctx.job.id) }, e.instance, callbackOf(ctx.job.data));
    };
    const patch = {
      store: stores.inventory,
      hv: rt.hv,
      region: rt.region,
      host: rt.host,
      name: vm.vm_name,
      guest: seen?.guest,
      seen: seen?.domain,
      onVmEvents,
    };
    await updateInventoryVm(patch).catch((e: unknown) => ctx.log.warn({ err: String(e) }, 'inventory update failed'));
  }
}

/**
 * Called from the worker's `completed` and `failed` events: once a job's outcome is recorded (completed,
 * or failed with no retry left), its end is settled (VmLedger.settle): what it held is given back and the
 * VM's next operation may start. Settling only then keeps consecutive operations' job windows apart. A
 * worker that dies before this is covered by isMyTurn, which settles a finished head of the line.
 */
export async function onJobEnded(rt: HostRuntime, stores: WorkerStores, job: Job | undefined): Promise<void> {
  if (!job?.finishedOn) return; // failed but will be retried: its turn goes on
  await stores.ledger.settle(rt.queue, job, endOutcome(job));
}
