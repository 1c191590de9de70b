import type { RebootPayload } from '@provisioner/contracts';
import type { z } from 'zod';
import type { ProcessorContext } from './context.ts';
import { gracefulShutdown } from './stop.ts';

export async function processReboot(ctx: ProcessorContext, p: z.infer<typeof RebootPayload>) {
  const { hv, signal } = ctx;
  const stopped = await ctx.steps.run('stop', () => gracefulShutdown(ctx, 'stop', p.vm_name, p.timeout_ms));
  await ctx.steps.run('start', () => hv.start(p.vm_name, { signal }));
  return { vm_name: p.vm_name, state: 'running', stopped };
}
