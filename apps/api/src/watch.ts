/**
 * Watching a job until it ends: for the SSE stream, the legacy routes' wait and `?refresh=true`.
 * BullMQ's QueueEvents (one per host queue, created on first use and shared) wake the watcher as
 * soon as something happens; a poll every 500 ms covers events missed while QueueEvents connects or
 * reconnects. A change is reported only when the job view itself changed.
 */
import { type Config, isTerminal, type JobView } from '@provisioner/contracts';
import { duplicateRedis, readJobView } from '@provisioner/store';
import { type Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** What changed between two views; the first view of a watch is the `snapshot`. */
export type ChangeKind = 'snapshot' | 'state' | 'step' | 'progress';

/** Per-job events QueueEvents emits as `${event}:${jobId}`. */
const WAKE_EVENTS = ['active', 'progress', 'completed', 'failed', 'waiting', 'delayed', 'removed'] as const;

export function changeKind(prev: JobView, next: JobView): ChangeKind {
  if (prev.state !== next.state || prev.attempts !== next.attempts || prev.error?.code !== next.error?.code) return 'state';
  if (prev.step !== next.step || JSON.stringify(prev.steps) !== JSON.stringify(next.steps)) return 'step';
  if (prev.progress !== next.progress) return 'progress';
  return 'state';
}

/** A job's view (the store's one reader, shared with the webhook sender). */
export async function readView(queue: Queue, id: string): Promise<JobView | null> {
  return (await readJobView(queue, id))?.view ?? null;
}

export class JobWatcher {
  private readonly events = new Map<string, QueueEvents>();
  private readonly closing = new AbortController();

  constructor(
    private readonly redis: Redis,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly pollMs = 500,
  ) {}

  private queueEvents(queue: Queue): QueueEvents {
    let qe = this.events.get(queue.name);
    if (!qe) {
      // Its own connection: QueueEvents blocks on XREAD, and a blocking client needs maxRetriesPerRequest
      // null and an offline queue. Lazy, because QueueEvents duplicates it again and owns that copy.
      const connection = duplicateRedis(this.redis, { maxRetriesPerRequest: null, enableOfflineQueue: true, lazyConnect: true });
      qe = new QueueEvents(queue.name, { connection, prefix: this.config.queue_prefix });
      qe.setMaxListeners(0);
      qe.on('error', (e) => this.logger.warn({ err: e.message, queue: queue.name }, 'queue events error'));
      this.events.set(queue.name, qe);
    }
    return qe;
  }

  /**
   * Calls `onChange` with each new view of the job (first the snapshot) until the job reaches a
   * terminal state, the signal aborts, or the job disappears. Returns the last view seen (null when
   * the job did not exist).
   */
  async watch(queue: Queue, id: string, onChange: (kind: ChangeKind, view: JobView) => unknown, signal?: AbortSignal): Promise<JobView | null> {
    const abort = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    const qe = this.queueEvents(queue);
    let dirty = false;
    let wake: (() => void) | null = null;
    const poke = () => {
      dirty = true;
      wake?.();
    };
    const names = WAKE_EVENTS.map((e) => `${e}:${id}`);
    for (const n of names) qe.on(n as 'active', poke);
    abort.addEventListener('abort', poke);
    let last: JobView | null = null;
    let lastJson = '';
    try {
      while (!abort.aborted) {
        dirty = false;
        const view = await readView(queue, id);
        if (!view) return last;
        const json = JSON.stringify(view);
        if (json !== lastJson) {
          await onChange(last ? changeKind(last, view) : 'snapshot', view);
          last = view;
          lastJson = json;
        }
        if (isTerminal(view.state)) return view;
        if (!dirty && !abort.aborted) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, this.pollMs);
            wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          wake = null;
        }
      }
      return last;
    } finally {
      for (const n of names) qe.off(n as 'active', poke);
      abort.removeEventListener('abort', poke);
    }
  }

  /** Waits for the job to end, at most `ms`; returns its last view (check `state` for whether it ended). */
  waitFor(queue: Queue, id: string, ms: number): Promise<JobView | null> {
    return this.watch(queue, id, () => undefined, AbortSignal.timeout(ms));
  }

  /** Ends every watch (streams close) and the QueueEvents connections. */
  async close(): Promise<void> {
    this.closing.abort();
    const all = [...this.events.values()];
    this.events.clear();
    // QueueEvents.close waits for a connection that may never come back during an outage: bounded.
    await Promise.race([Promise.allSettled(all.map((q) => q.close())), new Promise((r) => setTimeout(r, 2000).unref())]);
    for (const q of all) await q.disconnect().catch(() => undefined);
  }
}
