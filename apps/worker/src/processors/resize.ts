import type { ResizePayload } from '@provisioner/contracts';
import type { z } from 'zod';
import type { ProcessorContext } from './context.ts';
import { defineProcessor } from './define.ts';
import { stopStep } from './stop.ts';

const MiB = 1024 * 1024;

/**
 * Whether the VM ran before this job first touched it. Read once and kept in the job's data, before
 * anything is shut down: a run after a crash (which finds the VM off because of this very job) still
 * starts it again.
 */
async function wasRunning(ctx: ProcessorContext, p: z.infer<typeof ResizePayload>): Promise<boolean> {
  if (p.was_running !== undefined) return p.was_running;
  // A paused VM (virsh suspend, an I/O error) counts as running: its stop resumes it to shut it down
  // cleanly, and it runs again afterwards, as a rebuild does.
  const state = await ctx.hv.domainState(p.vm_name, { signal: ctx.signal });
  const running = state === 'running' || state === 'paused';
  await ctx.job.updateData({ ...ctx.job.data, was_running: running });
  return running;
}

/**
 * Shuts the VM down (graceful, forced after timeout_ms or at once with force), gives its definition the
 * new type's vCPUs and memory, grows its disk in place (never replaced, never shrunk: a crash at any point
 * leaves the VM with its disk) and starts it again if it ran before. Every step checks the host first.
 */
async function resize(ctx: ProcessorContext, p: z.infer<typeof ResizePayload>) {
  const { hv, signal, steps } = ctx;
  const running = await wasRunning(ctx, p);
  let stopped: string = 'already';
  if ((await hv.domainState(p.vm_name, { signal })) === 'shut off') await steps.skip('stop', 'the VM is shut off');
  else stopped = (await stopStep(ctx, 'stop', p.vm_name, p.force, p.timeout_ms)).toString();
  const { changed } = await steps.run('resize', () =>
    hv.resize(p.vm_name, { vcpus: p.vcpus, memoryMiB: p.memory_mb, diskBytes: p.storage_mb * MiB, instanceType: p.instance_type }, { signal }),
  );
  if (running) await steps.run('start', () => hv.start(p.vm_name, { signal }));
  else await steps.skip('start', 'the VM was not running');
  return {
    vm_name: p.vm_name,
    instance_type: p.instance_type,
    vcpus: p.vcpus,
    memory_mb: p.memory_mb,
    storage_mb: p.storage_mb,
    state: running ? 'running' : 'shut off',
    stopped,
    changed,
  };
}

/**
 * After a resize failed for good or was canceled: a VM that ran before is started again (with whatever
 * sizes it has now), so a failure does not leave it off. Best effort, without the job's aborted signal.
 */
async function recoverResize(ctx: ProcessorContext, p: z.infer<typeof ResizePayload>): Promise<void> {
  const data = ctx.job.data as { was_running?: boolean };
  if (data.was_running !== true) return;
  await ctx.hv.start(p.vm_name, { timeoutMs: 60_000 });
}

export default defineProcessor({
  kind: 'resize',
  run: async (ctx, p) => ({ result: await resize(ctx, p) }),
  onFinalFailure: recoverResize,
});
