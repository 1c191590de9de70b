/**
 * Snapshots of a VM: libvirt internal snapshots in its qcow2 disk (memory too when it runs), the read-only
 * seed left out (snapshot="no"). Per-VM ordering runs one operation on a VM at a time, so what a step
 * reads of the host (the snapshots there, the domain's definition) still holds when it acts on it.
 */
import type { SnapshotCreatePayload, SnapshotDeletePayload, SnapshotRevertPayload } from '@provisioner/contracts';
import type { SnapshotInfo } from '@provisioner/libvirt';
import type { z } from 'zod';
import { WorkerError } from '../errors.ts';
import type { ProcessorContext } from './context.ts';
import { defineProcessor } from './define.ts';

async function create(ctx: ProcessorContext, p: z.infer<typeof SnapshotCreatePayload>) {
  const { hv, signal } = ctx;
  const region = ctx.config.regions.find((r) => r.region_name === p.region);
  const cap = region?.max_snapshots_per_vm;
  const r = await ctx.steps.run('snapshot', async () => {
    const existing = await hv.snapshots(p.vm_name, { signal });
    const same = existing.find((s) => s.name === p.snapshot);
    // The job id is the snapshot's description: a run after a crash finds its own snapshot and is done.
    if (same && same.description === String(ctx.job.id)) return { created: false };
    if (same) throw new WorkerError('CONFLICT', `VM '${p.vm_name}' already has a snapshot named '${p.snapshot}'`, false);
    // Checked here too (the API checks when it accepts): two creates queued together pass the API both.
    if (cap !== undefined && existing.length >= cap)
      throw new WorkerError('CONFLICT', `VM '${p.vm_name}' has ${existing.length} snapshots, the region's limit (max_snapshots_per_vm ${cap})`, false);
    const c = await hv.createSnapshot(p.vm_name, p.snapshot, String(ctx.job.id), { signal });
    if (!c.created && !c.mine) throw new WorkerError('CONFLICT', `VM '${p.vm_name}' already has a snapshot named '${p.snapshot}'`, false);
    return { created: c.created };
  });
  return { vm_name: p.vm_name, snapshot: p.snapshot, created: r.created };
}

/**
 * Why reverting to `s` is refused, or null: the definition saved with it must have the VM's current
 * instance type and sizes. One taken before a resize would give back the old vCPUs and memory, and the
 * qcow2 snapshot the old (smaller) disk.
 */
export function revertRefusal(
  s: Pick<SnapshotInfo, 'name' | 'instanceType' | 'vcpus' | 'memoryMiB'>,
  now: { instanceType: string | null; vcpus: number; memoryMiB: number },
): string | null {
  if (s.instanceType !== now.instanceType)
    return `snapshot '${s.name}' was taken with instance type ${s.instanceType ?? 'unknown'}, the VM is now ${now.instanceType ?? 'unknown'} (resized since): reverting would shrink it`;
  if (s.vcpus !== now.vcpus || s.memoryMiB !== now.memoryMiB)
    return `snapshot '${s.name}' was taken with ${s.vcpus} vCPUs and ${s.memoryMiB} MiB, the VM now has ${now.vcpus} and ${now.memoryMiB}`;
  return null;
}

async function revert(ctx: ProcessorContext, p: z.infer<typeof SnapshotRevertPayload>) {
  const { hv, signal } = ctx;
  const tags = await ctx.steps.run('check', async () => {
    // A run after a crash may find the snapshot's definition already back: the tags saved before it count.
    if (p.tags) return p.tags;
    const d = await hv.getDomain(p.vm_name, { signal });
    const s = d.snapshots.find((x) => x.name === p.snapshot);
    if (!s) throw new WorkerError('CONFLICT', `VM '${p.vm_name}' has no snapshot named '${p.snapshot}'`, false);
    const why = revertRefusal(s, d);
    if (why) throw new WorkerError('CONFLICT', why, false);
    await ctx.job.updateData({ ...ctx.job.data, tags: d.tags });
    return d.tags;
  });
  await ctx.steps.run('revert', () => hv.revertSnapshot(p.vm_name, p.snapshot, { signal }));
  // The revert brought back the definition saved with the snapshot, and its tags: the VM's own (its owner
  // above all) go back on.
  await ctx.steps.run('set-tags', () => hv.setTags(p.vm_name, tags, { signal }));
  return { vm_name: p.vm_name, snapshot: p.snapshot, state: await hv.domainState(p.vm_name, { signal }) };
}

async function remove(ctx: ProcessorContext, p: z.infer<typeof SnapshotDeletePayload>) {
  const r = await ctx.steps.run('delete-snapshot', () => ctx.hv.deleteSnapshot(p.vm_name, p.snapshot, { signal: ctx.signal }));
  return { vm_name: p.vm_name, snapshot: p.snapshot, existed: r.existed };
}

export const snapshotCreate = defineProcessor({ kind: 'snapshot-create', run: async (ctx, p) => ({ result: await create(ctx, p) }) });
export const snapshotRevert = defineProcessor({ kind: 'snapshot-revert', run: async (ctx, p) => ({ result: await revert(ctx, p) }) });
export const snapshotDelete = defineProcessor({ kind: 'snapshot-delete', run: async (ctx, p) => ({ result: await remove(ctx, p) }) });
