import { defineProcessor } from './define.ts';

/** Starts the VM, resumes it when paused, wakes it when suspended to RAM: `started` says which (`started`, `resumed`, `woken`, `already`). */
export default defineProcessor({
  kind: 'start',
  async run(ctx, p) {
    const r = await ctx.steps.run('start', () => ctx.hv.start(p.vm_name, { signal: ctx.signal }));
    return { result: { vm_name: p.vm_name, state: 'running', changed: r.changed, started: r.result } };
  },
});
