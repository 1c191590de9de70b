import { defineProcessor } from './define.ts';

/** Replaces the VM's tags (in its definition's metadata). */
export default defineProcessor({
  kind: 'edit-tags',
  async run(ctx, p) {
    await ctx.steps.run('set-tags', () => ctx.hv.setTags(p.vm_name, p.tags, { signal: ctx.signal }));
    return { result: { vm_name: p.vm_name, tags: p.tags } };
  },
});
