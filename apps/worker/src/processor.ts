import { type Config, callbackOf, canceledError, isHostJob, isWaitingReady, JobPayload, redactText, stepsOf, type VmJobPayload } from '@provisioner/contracts';
import { type Hypervisor, isLibvirtError } from '@provisioner/libvirt';
import { DelayedError, type Job, type Queue } from 'bullmq';
import type { Logger } from 'pino';
import { toBullError, toJobError, WorkerError } from './errors.ts';
import { updateInventoryVm } from './inventory.ts';
import { lockLost } from './lock-watch.ts';
import type { WorkerMetrics } from './metrics.ts';
import { processConsole } from './processors/console.ts';
import type { ProcessorContext, WorkerStores } from './processors/context.ts';
import { CREATE_WEIGHTS, cleanupCreate, processCreate } from './processors/create.ts';
import { processDelete } from './processors/delete.ts';
import { processDriftClean } from './processors/drift-clean.ts';
import { processEditTags } from './processors/edit-tags.ts';
import { processImageCache } from './processors/image-cache.ts';
import { processReboot } from './processors/reboot.ts';
import { processRebuild } from './processors/rebuild.ts';
import { processRefresh } from './processors/refresh.ts';
import { processResize, recoverResize } from './processors/resize.ts';
import { processSnapshotCreate, processSnapshotDelete, processSnapshotRevert } from './processors/snapshot.ts';
import { processStart } from './processors/start.ts';
import { processStop } from './processors/stop.ts';
import { StepRunner } from './steps.ts';
import type { VmEvent } from './vm-events.ts';

export interface HostRuntime {
  region: string;
  host: string;
  hv: Hypervisor;
  queue: Queue;
}

/** How long a job whose VM is busy waits before it looks again (it is also promoted when its turn comes). */
const TURN_POLL_MS = 1000;

function dispatch(ctx: ProcessorContext, p: JobPayload): Promise<unknown> {
  switch (p.kind) {
    case 'create':
      return processCreate(ctx, p);
    case 'start':
      return processStart(ctx, p);
    case 'stop':
      return processStop(ctx, p);
    case 'reboot':
      return processReboot(ctx, p);
    case 'delete':
      return processDelete(ctx, p);
    case 'edit-tags':
      return processEditTags(ctx, p);
    case 'rebuild':
      return processRebuild(ctx, p);
    case 'resize':
      return processResize(ctx, p);
    case 'snapshot-create':
      return processSnapshotCreate(ctx, p);
    case 'snapshot-revert':
      return processSnapshotRevert(ctx, p);
    case 'snapshot-delete':
      return processSnapshotDelete(ctx, p);
    case 'refresh':
      return processRefresh(ctx, p);
    case 'drift-clean':
      return processDriftClean(ctx, p);
    case 'image-cache':
      return processImageCache(ctx, p);
    case 'console':
      return processConsole(ctx, p);
  }
}

/** Builds the BullMQ processor for one host's queue. */
export function makeProcessor(rt: HostRuntime, stores: WorkerStores, config: Config, log: Logger, metrics?: WorkerMetrics) {
  return async (job: Job, token?: string, signal?: AbortSignal): Promise<unknown> => {
    const parsed = JobPayload.safeParse(job.data);
    if (!parsed.success) throw toBullError(toJobError(parsed.error));
    const p = parsed.data;
    const vm = isHostJob(p) ? null : p;
    if (vm && !(await stores.ledger.isMyTurn(rt.queue, vm.region, vm.vm_name, String(job.id)))) {
      await job.moveToDelayed(Date.now() + TURN_POLL_MS, token);
      throw new DelayedError();
    }
    const jlog = log.child({ job_id: job.id, kind: p.kind, vm: vm?.vm_name, host: `${rt.region}/${rt.host}`, request_id: p.request_id });
    const steps = new StepRunner(job, stepsOf(p), p.kind === 'create' ? CREATE_WEIGHTS : undefined, (step, s, ok) => metrics?.stepEnded(p.kind, step, s, ok));
    const ctx: ProcessorContext = {
      job,
      hv: rt.hv,
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
      const result = await dispatch(ctx, p);
      jlog.info('job succeeded');
      if (vm) await finish(ctx, vm);
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
      if (final && vm) {
        if (vm.kind === 'create')
          await cleanupCreate(ctx, vm).catch((ce: unknown) => jlog.error({ err: String(ce) }, 'cleanup after failed create did not finish'));
        if (vm.kind === 'resize')
          await recoverResize(ctx, vm).catch((ce: unknown) => jlog.error({ err: String(ce) }, 'starting the VM again after a failed resize did not work'));
        await finish(ctx, vm);
      }
      throw toBullError(err);
    }
  };

  /** Writes what the VM now looks like to its host's inventory (the VM's turn ends once BullMQ records the outcome). */
  async function finish(ctx: ProcessorContext, vm: VmJobPayload): Promise<void> {
    // A create whose guest became ready announces it (vm.ready), to its webhook_url too when the request asked.
    const onVmEvents = async (events: VmEvent[]) => {
      for (const e of events) await stores.webhooks?.enqueueVmEvent(e.type, { ...e.data, job_id: String(ctx.job.id) }, e.instance, callbackOf(ctx.job.data));
    };
    await updateInventoryVm(stores.inventory, rt.region, rt.host, rt.hv, vm.vm_name, ctx.guest, onVmEvents, ctx.domain).catch((e: unknown) =>
      ctx.log.warn({ err: String(e) }, 'inventory update failed'),
    );
  }
}

/**
 * Called from the worker's `completed` and `failed` events: once a job's outcome is recorded (completed,
 * or failed with no retry left), the VM's next operation may start. Ending the turn only then keeps
 * consecutive operations' job windows apart. A worker that dies before this is covered by isMyTurn,
 * which drops a finished head of the line.
 */
export async function onJobEnded(rt: HostRuntime, stores: WorkerStores, job: Job | undefined): Promise<void> {
  if (!job?.finishedOn) return; // failed but will be retried: its turn goes on
  const p = job.data as { kind?: string; region?: string; vm_name?: string };
  if (p.kind === undefined || isHostJob({ kind: p.kind as JobPayload['kind'] }) || !p.region || !p.vm_name) return;
  // A finished create is in the inventory now (or failed): placement stops counting it as pending.
  if (p.kind === 'create') await stores.ledger.release(p.region, rt.host, p.vm_name);
  // A resize's extra room is in the inventory now (the VM was read after it), or was never taken.
  if (p.kind === 'resize') await stores.ledger.releaseResize(p.region, rt.host, p.vm_name);
  await stores.ledger.endTurn(rt.queue, p.region, p.vm_name, String(job.id));
}
