import type { DriftCleanPayload, DriftItem } from '@provisioner/contracts';
import type { z } from 'zod';
import { collectDrift } from '../drift.ts';
import { WorkerError } from '../errors.ts';
import type { ProcessorContext } from './context.ts';
import { defineProcessor } from './define.ts';

const key = (i: DriftItem) => `${i.kind} ${i.vm_name} ${i.path ?? ''}`;

/**
 * Removes the leftovers the host's drift report lists, re-checked on the host first (a fresh listing and
 * fresh names and jobs): only what both the report and the re-check list goes — never an unmanaged
 * domain, nothing of a VM with a job queued or running, no file younger than the grace period (checked
 * again by the removal itself, on the host). The report is then written again without what went.
 */
async function clean(ctx: ProcessorContext, p: z.infer<typeof DriftCleanPayload>) {
  const disksDir = ctx.config.regions.find((r) => r.region_name === p.region)?.hosts.find((h) => h.name === p.host)?.disks_dir;
  if (!disksDir) throw new WorkerError('INVALID_ARGUMENT', `no host ${p.region}/${p.host} in the configuration`, false);
  const graceMs = ctx.config.worker.drift_grace_ms;
  const reported = await ctx.stores.inventory.drift(p.region, p.host);
  const fresh = await ctx.steps.run('re-check', async () => {
    const listing = await ctx.hv.listDomainsAndFiles({ timeoutMs: 60_000, signal: ctx.signal });
    return collectDrift(ctx.stores.ledger, p.region, p.host, listing, disksDir, graceMs);
  });
  const listed = new Set((reported?.items ?? []).map(key));
  const todo = fresh.items.filter((i) => listed.has(key(i)));
  const removed: DriftItem[] = [];
  await ctx.steps.run('clean', async () => {
    const files = todo.filter((i) => i.kind === 'file-without-domain' && i.path);
    const gone = new Set(
      await ctx.hv.removeOldFiles(
        files.map((i) => (i.path as string).slice(disksDir.replace(/\/+$/, '').length + 1)),
        new Date(Date.now() - graceMs),
        { timeoutMs: 60_000, signal: ctx.signal },
      ),
    );
    removed.push(...files.filter((i) => gone.has((i.path as string).slice((i.path as string).lastIndexOf('/') + 1))));
    for (const i of todo.filter((x) => x.kind === 'domain-without-disk')) {
      // The service's own removal of a VM: powers it off, undefines it and removes its seed and console logs.
      await ctx.hv.undefine(i.vm_name, { timeoutMs: 60_000, signal: ctx.signal });
      // As a delete does: its name is free again and the inventory no longer lists it.
      await ctx.stores.ledger.forget(p.region, i.vm_name);
      await ctx.stores.inventory.patchVm(p.region, p.host, i.vm_name, null);
      removed.push(i);
    }
    for (const i of todo.filter((x) => x.kind === 'name-without-vm')) {
      await ctx.stores.ledger.free(p.region, p.host, i.vm_name);
      removed.push(i);
    }
  });
  const done = new Set(removed.map(key));
  await ctx.stores.inventory.putDrift({ ...fresh, items: fresh.items.filter((i) => !done.has(key(i))) });
  return { region: p.region, host: p.host, removed, kept: fresh.items.length - removed.length };
}

export default defineProcessor({ kind: 'drift-clean', run: async (ctx, p) => ({ result: await clean(ctx, p) }) });
