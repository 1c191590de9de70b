import { defineProcessor } from './define.ts';

/** Power-off, undefine, remove disk and seed. Deleting a VM that does not exist succeeds. */
export default defineProcessor({
  kind: 'delete',
  async run(ctx, p) {
    const r = await ctx.steps.run('delete', () => ctx.hv.undefine(p.vm_name, { signal: ctx.signal }));
    await ctx.stores.ledger.forget(p.region, p.vm_name);
    return { result: { vm_name: p.vm_name, existed: r.existed } };
  },
});
