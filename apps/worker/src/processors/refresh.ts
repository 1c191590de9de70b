import { refreshInventory } from '../inventory.ts';
import type { VmEvent } from '../vm-events.ts';
import type { ProcessorContext } from './context.ts';
import { defineProcessor } from './define.ts';

/**
 * Writes what a refresh saw as webhooks: a VM's guest that became ready, and a state change nobody in the
 * service made (one made while an operation of the VM's line is under way is that operation's).
 */
async function emitSeen(ctx: ProcessorContext, events: VmEvent[]): Promise<void> {
  const hooks = ctx.stores.webhooks;
  if (!hooks) return;
  for (const e of events) {
    if (e.type === 'vm.state_changed' && (await ctx.stores.ledger.hasOps(e.data.region, e.data.vm_name))) continue;
    await hooks.enqueueVmEvent(e.type, e.data, e.instance);
    ctx.log.info({ event: e.type, vm: e.data.vm_name, state: e.data.state, previous_state: e.data.previous_state }, 'vm event');
  }
}

/** Lists the host into the inventory (scheduled, and on demand for `?refresh=true`). */
export default defineProcessor({
  kind: 'refresh',
  async run(ctx, p) {
    const disksDir = ctx.config.regions.find((r) => r.region_name === p.region)?.hosts.find((h) => h.name === p.host)?.disks_dir;
    const drift = disksDir ? { ledger: ctx.stores.ledger, disksDir, graceMs: ctx.config.worker.drift_grace_ms } : undefined;
    const entry = await ctx.steps.run('list', () => refreshInventory(ctx.stores.inventory, p.region, p.host, ctx.hv, drift, (events) => emitSeen(ctx, events)));
    return { result: { region: p.region, host: p.host, vms: entry.vms.length, observed_at: entry.observed_at } };
  },
});
