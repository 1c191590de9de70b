import type { ProcessorContext } from './context.ts';
import { defineProcessor } from './define.ts';

/**
 * Asks the guest to shut down and powers it off after `timeoutMs`; the step's detail counts down to the
 * power-off, so a guest that ignores ACPI does not look like a job doing nothing.
 */
export async function gracefulShutdown(ctx: ProcessorContext, step: string, vm: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  const text = (left: number) => (left > 0 ? `graceful shutdown; forcing in ${left} s` : 'forcing power-off');
  return (await ctx.steps.waiting(step, deadline, text, () => ctx.hv.shutdown(vm, timeoutMs, { signal: ctx.signal }))).result;
}

/** Runs step `step`: graceful shutdown with a timeout, then power-off; `force` powers off at once. */
export function stopStep(ctx: ProcessorContext, step: string, vm: string, force: boolean, timeoutMs: number) {
  const { hv, signal } = ctx;
  return ctx.steps.run(step, async () =>
    force
      ? ctx.steps.waiting(
          step,
          Date.now(),
          () => 'powering off',
          async () => ((await hv.powerOff(vm, { signal })).changed ? 'forced' : 'already'),
        )
      : gracefulShutdown(ctx, step, vm, timeoutMs),
  );
}

/** Graceful shutdown with a timeout, then power-off; `force` powers off at once (the legacy /v1/stop). */
export default defineProcessor({
  kind: 'stop',
  async run(ctx, p) {
    const how = await stopStep(ctx, 'stop', p.vm_name, p.force, p.timeout_ms);
    return { result: { vm_name: p.vm_name, state: 'shut off', stopped: how } };
  },
});
