import type { StopPayload } from '@provisioner/contracts';
import type { z } from 'zod';
import type { ProcessorContext } from './context.ts';

/** Graceful shutdown with a timeout, then power-off; `force` powers off at once (the legacy /v1/stop). */
export async function processStop(ctx: ProcessorContext, p: z.infer<typeof StopPayload>) {
  const { hv, signal } = ctx;
  const how = await ctx.steps.run('stop', async () =>
    p.force ? ((await hv.powerOff(p.vm_name, { signal })).changed ? 'forced' : 'already') : (await hv.shutdown(p.vm_name, p.timeout_ms, { signal })).result,
  );
  return { vm_name: p.vm_name, state: 'shut off', stopped: how };
}
