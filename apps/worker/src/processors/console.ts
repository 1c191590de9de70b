import { toJobError } from '../errors.ts';
import { defineProcessor } from './define.ts';

/**
 * Reads the tail of the VM's serial console log (one SSH exec) for the API request waiting for it. The
 * text goes only to ConsoleStore (encrypted, a minute at most): consoles can show generated passwords, so
 * it is never the job's result, nor logged. The result says only whether there was a log. Why a read
 * failed goes there too: a console job is removed however it ends, so it never counts against the
 * failed jobs BullMQ keeps per queue (`retention_max_jobs`).
 */
export default defineProcessor({
  kind: 'console',
  async run(ctx, p) {
    let tail: Awaited<ReturnType<typeof ctx.hv.consoleTail>>;
    try {
      tail = await ctx.steps.run('read', () => ctx.hv.consoleTail(p.vm_name, p.tail_bytes, { timeoutMs: 30_000, signal: ctx.signal }));
    } catch (e) {
      // The job is removed as it fails (store's JobQueue): the waiting request reads why from here.
      await ctx.stores.console.fail(String(ctx.job.id), toJobError(e)).catch(() => undefined);
      throw e;
    }
    await ctx.stores.console.put(String(ctx.job.id), tail);
    return { result: { vm_name: p.vm_name, found: tail !== null } };
  },
});
