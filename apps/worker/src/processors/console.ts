import type { ConsolePayload } from '@provisioner/contracts';
import type { z } from 'zod';
import type { ProcessorContext } from './context.ts';

/**
 * Reads the tail of the VM's serial console log (one SSH exec) for the API request waiting for it. The
 * text goes only to ConsoleStore (encrypted, a minute at most): consoles can show generated passwords, so
 * it is never the job's result, nor logged. The result says only whether there was a log.
 */
export async function processConsole(ctx: ProcessorContext, p: z.infer<typeof ConsolePayload>) {
  const tail = await ctx.steps.run('read', () => ctx.hv.consoleTail(p.vm_name, p.tail_bytes, { timeoutMs: 30_000, signal: ctx.signal }));
  await ctx.stores.console.put(String(ctx.job.id), tail);
  return { vm_name: p.vm_name, found: tail !== null };
}
