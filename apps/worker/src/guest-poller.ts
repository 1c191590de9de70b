import { CanceledError, type GuestStatus, type Hypervisor } from '@provisioner/libvirt';
import { consoleSaysFinished, needsConsole } from './readiness.ts';

interface Waiter {
  resolve: (s: GuestStatus | undefined) => void;
  reject: (e: unknown) => void;
}

/**
 * One host's looks at the guests that creates wait for: every VM asked about since the last exec is looked
 * at in ONE exec (Hypervisor.guestReady), at most one exec per `tickMs`, so that the SSH cost of waiting
 * grows with the hosts, not with the VMs waiting on them.
 */
export class GuestPoller {
  private pending = new Map<string, Waiter[]>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private lastStart = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly hv: Hypervisor,
    private readonly tickMs: number,
    private readonly consoleBytes: number,
  ) {}

  /**
   * The guest status of VM `name` as the next exec sees it (undefined when the host did not report it),
   * its cloud-init `done` when no agent tells its state and the console shows cloud-init finished. Rejects
   * with the exec's error, or CanceledError once `signal` aborts.
   */
  look(name: string, signal?: AbortSignal): Promise<GuestStatus | undefined> {
    if (signal?.aborted) return Promise.reject(new CanceledError('the look at the guest was canceled'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (st) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(st);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      // Canceled: this VM is left out of the next exec (when no other waiter wants it).
      const onAbort = () => {
        const list = this.pending.get(name);
        const i = list?.indexOf(waiter) ?? -1;
        if (list && i >= 0) list.splice(i, 1);
        if (list?.length === 0) this.pending.delete(name);
        reject(new CanceledError('the look at the guest was canceled'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(name, [...(this.pending.get(name) ?? []), waiter]);
      this.schedule();
    });
  }

  /** Starts the next exec as soon as none runs and a tick has passed since the last one started. */
  private schedule(): void {
    if (this.running || this.timer || this.pending.size === 0) return;
    const wait = Math.max(0, this.lastStart + this.tickMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, wait);
  }

  private async run(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    if (batch.size === 0) return;
    this.running = true;
    this.lastStart = Date.now();
    try {
      const facts = await this.hv.guestReady([...batch.keys()], { consoleBytes: this.consoleBytes });
      for (const [name, waiters] of batch) {
        const f = facts.get(name);
        let status = f?.status;
        if (status && needsConsole(status) && f && consoleSaysFinished(f.console)) status = { ...status, cloud_init: 'done' };
        for (const w of waiters) w.resolve(status);
      }
    } catch (e) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(e);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
