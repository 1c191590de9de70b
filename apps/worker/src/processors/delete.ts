import type { DeletePayload } from '@provisioner/contracts';
import type { z } from 'zod';
import type { ProcessorContext } from './context.ts';

/** Power-off, undefine, remove disk and seed. Deleting a VM that does not exist succeeds. */
export async function processDelete(ctx: ProcessorContext, p: z.infer<typeof DeletePayload>) {
  const r = await ctx.steps.run('delete', () => ctx.hv.undefine(p.vm_name, { signal: ctx.signal }));
  await ctx.stores.ledger.forget(p.region, p.vm_name);
  return { vm_name: p.vm_name, existed: r.existed };
}
