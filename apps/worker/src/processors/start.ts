import type { StartPayload } from '@provisioner/contracts';
import type { z } from 'zod';
import type { ProcessorContext } from './context.ts';

/** Starts the VM, resumes it when paused, wakes it when suspended to RAM: `started` says which (`started`, `resumed`, `woken`, `already`). */
export async function processStart(ctx: ProcessorContext, p: z.infer<typeof StartPayload>) {
  const r = await ctx.steps.run('start', () => ctx.hv.start(p.vm_name, { signal: ctx.signal }));
  return { vm_name: p.vm_name, state: 'running', changed: r.changed, started: r.result };
}
