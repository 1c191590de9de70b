import type { RefreshPayload } from '@provisioner/contracts';
import type { z } from 'zod';
import { refreshInventory } from '../inventory.ts';
import type { ProcessorContext } from './context.ts';

/** Lists the host into the inventory (scheduled, and on demand for `?refresh=true`). */
export async function processRefresh(ctx: ProcessorContext, p: z.infer<typeof RefreshPayload>) {
  const disksDir = ctx.config.regions.find((r) => r.region_name === p.region)?.hosts.find((h) => h.name === p.host)?.disks_dir;
  const drift = disksDir ? { ledger: ctx.stores.ledger, disksDir, graceMs: ctx.config.worker.drift_grace_ms } : undefined;
  const entry = await ctx.steps.run('list', () => refreshInventory(ctx.stores.inventory, p.region, p.host, ctx.hv, drift));
  return { region: p.region, host: p.host, vms: entry.vms.length, observed_at: entry.observed_at };
}
