import { decryptUserData, GUEST_UNKNOWN, type RebuildPayload } from '@provisioner/contracts';
import { domainMetadataXml } from '@provisioner/libvirt';
import type { z } from 'zod';
import { toJobError, WorkerError } from '../errors.ts';
import type { ProcessorContext } from './context.ts';
import { defineProcessor } from './define.ts';
import { gracefulShutdown } from './stop.ts';

type Payload = z.infer<typeof RebuildPayload>;

/**
 * Rebuilds a VM: a fresh qcow2 overlay on the image (and a new seed when user-data is given) is made
 * beside the VM's disk while it runs; then the VM is stopped, its disk replaced by rename (its definition
 * — UUID, MAC, NIC, tags, type — is kept, its metadata gets the new image) and started again if it ran.
 *
 * Each step checks the host: the swap writes this job's id into the domain's metadata (`rebuilt-by`), so a
 * run after a crash that finds it skips what came before and only finishes (start). A failure before the
 * swap removes the new files, starts the VM again if this job stopped it, and says the VM is as it was.
 */
async function rebuild(ctx: ProcessorContext, p: Payload) {
  const { hv, steps, signal } = ctx;
  const jobId = String(ctx.job.id);
  const name = p.vm_name;
  const dom = await hv.getDomain(name, { signal });
  const own = hv.paths(name);
  if (!dom.disks.includes(own.disk)) {
    throw new WorkerError('CONFLICT', `the VM's disk is not ${own.disk} (not made by this service): it is not rebuilt, nothing was changed`, false);
  }
  const fresh = hv.rebuildPaths(name, jobId);
  const newSeed = p.user_data_enc ? fresh.seed : null;
  const swapped = dom.rebuiltBy === jobId;
  // What the VM was before this job stopped it: from the job's data once written (a run after a crash
  // finds the VM stopped by the earlier run).
  const wasRunning = p.was_running ?? dom.state !== 'shut off';

  if (!swapped) {
    const snapshots = await hv.rebuildSnapshots(name, false, { signal });
    if (snapshots.length > 0 && !p.delete_snapshots) {
      throw new WorkerError(
        'CONFLICT',
        `the VM has snapshots (${snapshots.join(', ')}) that live in the disk a rebuild replaces: rebuild with delete_snapshots: true to delete them; nothing was changed`,
        false,
      );
    }
    try {
      // An earlier rebuild killed outright (SIGKILL, a lost worker) ran no cleanup: its new disk and seed go now.
      const leftovers = await hv.removeRebuildLeftovers(name, jobId, { signal });
      if (leftovers.length) ctx.log.info({ files: leftovers }, 'removed what an earlier rebuild of the VM left');
      const image = await steps.run('fetch-image', (report) => hv.ensureImage(p.image, { signal, onProgress: (pct) => report(pct / 100) }));
      // As large as the image; the swap grows it to the old disk's size (never smaller than the VM had).
      await steps.run('create-disk', () => hv.createDisk(name, image.path, 1, { signal, path: fresh.disk }));
      await steps.run('create-seed', async () => {
        if (!p.user_data_enc || !newSeed) return { path: own.seed, kept: true };
        const userData = decryptUserData(p.user_data_enc, ctx.config.user_data_key, jobId);
        return { ...(await hv.createSeed(name, jobId, userData, { signal, path: newSeed })), kept: false };
      });
      if (p.was_running === undefined) {
        await ctx.job.updateData({ ...ctx.job.data, was_running: wasRunning });
      }
      await steps.run('stop', async () =>
        p.force ? ((await hv.powerOff(name, { signal })).changed ? 'forced' : 'already') : gracefulShutdown(ctx, 'stop', name, p.timeout_ms),
      );
      if (p.delete_snapshots) await steps.run('delete-snapshots', () => hv.rebuildSnapshots(name, true, { signal }));
    } catch (e) {
      // Also when this run failed before its stop: an earlier run (before a crash) may have stopped it.
      throw await leftAsItWas(ctx, p, [fresh.disk, `${fresh.disk}.part`, fresh.seed], wasRunning, e);
    }
  } else {
    // Swapped by an earlier run: its steps show as it left them; what is left is the swap's metadata and the start.
    steps.resume();
  }

  const meta = domainMetadataXml({ instanceId: dom.instanceId, image: p.image.name, instanceType: dom.instanceType, rebuiltBy: jobId });
  // Once swapped the VM has its new disk: a later failure says so (the old disk is gone).
  try {
    await steps.run('swap', () => hv.rebuildSwap(name, { disk: fresh.disk, seed: newSeed }, meta, { signal }));
    await forgetGuest(ctx, p).catch((e: unknown) => ctx.log.warn({ err: String(e) }, 'inventory update failed'));
    await steps.run('start', async () => (wasRunning ? hv.start(name, { signal }) : { changed: false }));
  } catch (e) {
    const err = toJobError(e);
    throw new WorkerError(err.code, `${err.message} (the VM's disk may already be the new one on image ${p.image.name})`, err.retryable);
  }
  return {
    vm_name: name,
    region: p.region,
    host: p.host,
    image: p.image.name,
    state: wasRunning ? 'running' : 'shut off',
    user_data: newSeed ? 'new' : 'kept',
  };
}

export default defineProcessor({ kind: 'rebuild', run: async (ctx, p) => ({ result: await rebuild(ctx, p) }) });

/**
 * After a failure before the swap: the new disk and seed are removed and a VM this job stopped is
 * started again, so the VM is as it was; the error says so. Cleanup runs without the job's signal (a
 * cancel is what may have interrupted it).
 */
async function leftAsItWas(ctx: ProcessorContext, p: Payload, files: string[], restart: boolean, e: unknown): Promise<WorkerError> {
  const err = toJobError(e);
  const undone: string[] = [];
  await ctx.hv.removeFiles(files).catch((ce: unknown) => {
    ctx.log.warn({ err: String(ce) }, 'removing a failed rebuild’s new disk did not finish');
    undone.push('its new disk could not be removed yet');
  });
  if (restart) {
    await ctx.hv.start(p.vm_name).catch((se: unknown) => {
      ctx.log.warn({ err: String(se) }, 'starting the VM again after a failed rebuild did not finish');
      undone.push('it could not be started again');
    });
  }
  const state = undone.length ? `the VM keeps its old disk, but ${undone.join(' and ')}` : 'the VM is left as it was, with its old disk';
  return new WorkerError(err.code, `${err.message}; rebuild not done: ${state}`, err.retryable);
}

/**
 * The rebuilt VM keeps its UUID, so the inventory would keep what its old guest reported (readiness, the
 * agent's addresses): it starts over as unknown, and the listings learn the new guest's.
 */
async function forgetGuest(ctx: ProcessorContext, p: Payload): Promise<void> {
  const prev = (await ctx.stores.inventory.entry(p.region, p.host))?.vms.find((v) => v.name === p.vm_name);
  if (prev) await ctx.stores.inventory.patchVm(p.region, p.host, p.vm_name, { ...prev, image: p.image.name, guest: GUEST_UNKNOWN, addresses: [], ip: null });
}
