import { type CreatePayload, decryptUserData, isWaitingReady, READY_TIMEOUT_DEFAULT_S } from '@provisioner/contracts';
import { AlreadyExistsError, type CreateVmOutput, DomainNotFoundError, type GuestStatus, isLibvirtError, parseDomainXml } from '@provisioner/libvirt';
import { DelayedError } from 'bullmq';
import type { z } from 'zod';
import { WorkerError } from '../errors.ts';
import { updateInventoryVm } from '../inventory.ts';
import { readiness } from '../readiness.ts';
import type { ProcessorContext } from './context.ts';
import { defineProcessor, type Ran } from './define.ts';

type Payload = z.infer<typeof CreatePayload>;

/**
 * How soon a create waiting for its guest looks again. Between looks the job sits in BullMQ's delayed set
 * and holds none of the host's operation slots; short, because the time from cloud-init finishing to the
 * job succeeding is what the service adds to the guest's boot (BENCHMARKS.md).
 */
export const READY_POLL_MS = 500;
/** Bytes of the console searched for cloud-init's "finished" line when no agent reports its result. */
export const CONSOLE_SEARCH_BYTES = 64 * 1024;

/**
 * Creates a VM: image cached on the host → overlay disk → cloud-init seed → define → start, in one SSH
 * exec when the image is cached. Every step is idempotent (the job id is the domain's instance id), so a
 * retried or resumed job skips what exists. Failed for good, it removes what it made (cleanupCreate).
 */
export default defineProcessor({
  kind: 'create',
  // The download dominates when the image is not cached yet.
  weights: { 'fetch-image': 6 },
  run: processCreate,
  onFinalFailure: cleanupCreate,
});

async function processCreate(ctx: ProcessorContext, p: Payload): Promise<Ran> {
  const { hv, steps, signal } = ctx;
  const instanceId = String(ctx.job.id);
  // Back for another look at the guest: the VM's steps are done (and must not be redone).
  if (p.ready_wait) {
    steps.resume();
    return waitReady(ctx, p, p.ready_wait);
  }
  const userData = p.user_data_enc ? decryptUserData(p.user_data_enc, ctx.config.user_data_key, instanceId) : '#cloud-config\n{}\n';
  const spec = {
    name: p.vm_name,
    instanceId,
    vcpus: p.vcpus,
    memoryMiB: p.memory_mb,
    tags: p.tags,
    image: p.image.name,
    instanceType: p.instance_type,
    imageRef: p.image,
    diskBytes: p.storage_mb * 1024 * 1024,
    userData,
  };
  // One exec does the steps fetch-image (a cached image), create-disk, create-seed, define and start,
  // announcing each as the host does it. It makes nothing when the image is not cached (downloaded here,
  // then it runs again) or when a domain of the name exists: another operation's is never touched; this
  // job's own (an earlier attempt's) is carried on from where it stopped.
  let mine = false;
  let made: Extract<CreateVmOutput, { kind: 'done' }> | null = null;
  for (let pass = 0; !made; pass++) {
    if (pass === 3) throw new Error('create-vm ran three times without making the VM');
    const track = steps.track();
    let out: CreateVmOutput;
    try {
      out = await hv.createVm({ ...spec, mine }, { signal, onStep: track.mark });
    } catch (e) {
      await track.settle(e).catch(() => undefined);
      throw e;
    }
    await track.settle();
    if (out.kind === 'exists') {
      if (mine || parseDomainXml(out.xml).instanceId !== instanceId) {
        throw new AlreadyExistsError(`a domain named '${p.vm_name}' already exists on host ${ctx.job.data.host}`);
      }
      mine = true;
    } else if (out.kind === 'need-image') {
      // Without a catalog checksum the image is used once downloaded, hashed on the host after; with one, only once verified.
      await steps.run('fetch-image', (report) => hv.ensureImage(p.image, { signal, hashLater: true, onProgress: (pct) => report(pct / 100) }));
    } else {
      made = out;
    }
  }
  const image = made.image;
  const seen = { domain: made.domain };
  if (p.wait_until !== 'ready') return { result: { vm_name: p.vm_name, region: p.region, host: p.host, state: 'running', image_sha256: image.sha256 }, seen };
  // The VM exists and runs: listings show it and placement counts it from the inventory, not as pending,
  // while the job waits for its guest (which may take long, and ends without removing the VM).
  await updateInventoryVm({ store: ctx.stores.inventory, hv, region: p.region, host: p.host, name: p.vm_name, seen: made.domain }).catch((e: unknown) =>
    ctx.log.warn({ err: String(e) }, 'inventory update failed'),
  );
  await ctx.stores.ledger.settle(ctx.queue, ctx.job, 'made');
  const wait = { since: Date.now(), image_sha256: image.sha256 };
  await ctx.job.updateData({ ...ctx.job.data, ready_wait: wait });
  await steps.begin('wait-ready', 'waiting for the guest to boot');
  const r = await waitReady(ctx, p, wait);
  return { ...r, seen: { ...seen, ...r.seen } };
}

/**
 * One look at the guest (through the host's GuestPoller: one exec per tick for every VM waiting on the
 * host, its console searched when no agent tells cloud-init's state): succeeds when it is ready, fails when it never will be (cloud-init errors, VM gone or stopped,
 * timeout, a later operation on the VM waiting), else says what it waits for and comes back in
 * READY_POLL_MS as a delayed job, so that waiting holds no host slot.
 */
async function waitReady(ctx: ProcessorContext, p: Payload, wait: NonNullable<Payload['ready_wait']>): Promise<Ran> {
  const { steps, signal } = ctx;
  const console = `GET /v1/vms/${p.region}/${p.vm_name}/console`;
  const fail = async (code: 'GUEST_NOT_READY' | 'GUEST_CLOUD_INIT_ERROR', message: string): Promise<never> => {
    await steps.end('wait-ready', false, message);
    throw new WorkerError(code, message, false);
  };
  const later = await laterOperation(ctx, p);
  if (later) await fail('GUEST_NOT_READY', `superseded by job ${later} before the guest was ready; the VM is kept: see ${console}`);

  let status: GuestStatus | undefined;
  let detail: string;
  try {
    status = await ctx.guests.look(p.vm_name, signal);
    const r = readiness(status, hasNic(ctx, p), console);
    if (r.kind === 'ready' && status) {
      await steps.end('wait-ready', true);
      const guest = { agent: status.agent, cloud_init: status.cloud_init, ready: true, ready_at: new Date().toISOString() };
      return {
        result: { vm_name: p.vm_name, region: p.region, host: p.host, state: 'running', image_sha256: wait.image_sha256, addresses: status.addresses, guest },
        seen: { guest: status },
      };
    }
    if (r.kind === 'fail') return await fail(r.code, r.message);
    detail = r.kind === 'wait' ? r.detail : 'waiting for the guest';
  } catch (e) {
    // The host not answering one look is no reason to give up on the guest: the deadline decides.
    if (!isLibvirtError(e) || e.code === 'CANCELED') throw e;
    detail = `waiting for the guest; the host did not answer (${e.code}: ${e.message})`;
  }
  const timeout = p.ready_timeout_s ?? READY_TIMEOUT_DEFAULT_S;
  if (Date.now() - wait.since >= timeout * 1000) {
    await fail(
      'GUEST_NOT_READY',
      `the guest was not ready within ${timeout} s (${detail.replace(/^waiting for /, 'still waiting for ')}); the VM is kept: see ${console}`,
    );
  }
  await steps.detail('wait-ready', detail);
  await ctx.job.moveToDelayed(Date.now() + READY_POLL_MS, ctx.token);
  throw new DelayedError();
}

/** A later operation on the VM that waits for this create to end (its wait then ends: that one runs). */
async function laterOperation(ctx: ProcessorContext, p: Payload): Promise<string | null> {
  const me = String(ctx.job.id);
  for (const id of await ctx.stores.ledger.line(p.region, p.vm_name)) {
    if (id === me) continue;
    const job = await ctx.queue.getJob(id);
    const state = job ? await job.getState() : 'unknown';
    if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return id;
  }
  return null;
}

/** Whether the host gives its VMs a NIC (then readiness also needs an address). */
function hasNic(ctx: ProcessorContext, p: Payload): boolean {
  const host = ctx.config.regions.find((r) => r.region_name === p.region)?.hosts.find((h) => h.name === p.host);
  return host?.network !== 'none';
}

/**
 * After a create fails for good: removes what this job made (domain, disk, seed) and says so in the job's
 * data (`removed`), so that settling its end frees the name. Not once the VM runs and the job waits for its
 * guest: a guest that is not ready (or a cancel then) keeps it.
 */
async function cleanupCreate(ctx: ProcessorContext, p: Payload): Promise<void> {
  if (isWaitingReady(ctx.job.data)) return;
  const instanceId = String(ctx.job.id);
  let ours = true;
  try {
    const d = await ctx.hv.getDomain(p.vm_name);
    ours = d.instanceId === instanceId;
  } catch (e) {
    if (!(e instanceof DomainNotFoundError)) throw e;
  }
  if (!ours) return;
  await ctx.hv.undefine(p.vm_name);
  await ctx.job.updateData({ ...ctx.job.data, removed: true });
}
