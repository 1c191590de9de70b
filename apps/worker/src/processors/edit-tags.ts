import type { EditTagsPayload } from '@provisioner/contracts';
import type { z } from 'zod';
import type { ProcessorContext } from './context.ts';

export async function processEditTags(ctx: ProcessorContext, p: z.infer<typeof EditTagsPayload>) {
  await ctx.steps.run('set-tags', () => ctx.hv.setTags(p.vm_name, p.tags, { signal: ctx.signal }));
  return { vm_name: p.vm_name, tags: p.tags };
}
