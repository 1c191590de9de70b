import { defineProcessor } from './define.ts';
import { gracefulShutdown } from './stop.ts';

/** Graceful shutdown (power-off after `timeout_ms`), then start. */
export default defineProcessor({
  kind: 'reboot',
  async run(ctx, p) {
    const { hv, signal } = ctx;
    const stopped = await ctx.steps.run('stop', () => gracefulShutdown(ctx, 'stop', p.vm_name, p.timeout_ms));
    await ctx.steps.run('start', () => hv.start(p.vm_name, { signal }));
    return { result: { vm_name: p.vm_name, state: 'running', stopped } };
  },
});
