import { type ProgressData, redactText, type StepView } from '@provisioner/contracts';
import type { Job } from 'bullmq';

/**
 * Runs a job's named steps and reports real progress: each step owns a share of 0–100, steps may report
 * their own fraction (the image download). Progress never goes backwards, also across retries. Each
 * step's start, end (with its duration) or failure goes to the job's log, redacted.
 */
export class StepRunner {
  private readonly steps: StepView[];
  private percent: number;
  private readonly weights: number[];

  constructor(
    private readonly job: Job,
    names: readonly string[],
    weights?: readonly number[],
    /** Told each step's duration and whether it succeeded (the worker's step-duration histogram). */
    private readonly onStepEnd?: (step: string, seconds: number, ok: boolean) => void,
  ) {
    const prev = (typeof job.progress === 'object' ? job.progress : null) as ProgressData | null;
    this.percent = prev?.percent ?? 0;
    this.steps = names.map((name) => ({ name, state: 'pending', started_at: null, finished_at: null }));
    const w = weights ?? names.map(() => 1);
    const total = w.reduce((a, b) => a + b, 0);
    this.weights = w.map((x) => (x / total) * 100);
  }

  /** Runs step `name`; `fn` may call `report(fraction 0..1)` as it goes. */
  async run<T>(name: string, fn: (report: (fraction: number) => void) => Promise<T>): Promise<T> {
    const i = this.steps.findIndex((s) => s.name === name);
    const step = this.steps[i];
    if (!step) throw new Error(`unknown step ${name}`);
    step.state = 'running';
    step.started_at = new Date().toISOString();
    const t0 = performance.now();
    await this.log(`step ${name} started`);
    await this.publish(name, this.base(i));
    let lastSent = 0;
    let lastQuarter = 0;
    const report = (fraction: number) => {
      const f = Math.min(1, Math.max(0, fraction));
      const p = this.base(i) + (this.weights[i] ?? 0) * f;
      // Throttle to whole percents so a fast download does not flood Redis.
      if (Math.floor(p) > lastSent) {
        lastSent = Math.floor(p);
        void this.publish(name, p).catch(() => undefined);
      }
      if (Math.floor(f * 4) > lastQuarter && f < 1) {
        lastQuarter = Math.floor(f * 4);
        void this.log(`step ${name} ${lastQuarter * 25}%`);
      }
    };
    try {
      const out = await fn(report);
      delete step.detail;
      step.state = 'succeeded';
      step.finished_at = new Date().toISOString();
      this.onStepEnd?.(name, (performance.now() - t0) / 1000, true);
      await this.log(`step ${name} succeeded in ${Math.round(performance.now() - t0)} ms`);
      await this.publish(name, this.base(i + 1));
      return out;
    } catch (e) {
      delete step.detail;
      step.state = 'failed';
      step.finished_at = new Date().toISOString();
      this.onStepEnd?.(name, (performance.now() - t0) / 1000, false);
      await this.log(`step ${name} failed after ${Math.round(performance.now() - t0)} ms: ${e instanceof Error ? e.message : String(e)}`);
      await this.publish(name, this.percent).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Runs `fn` inside step `name` (already running) while its `detail` says what it waits for:
   * `text(seconds left until deadlineMs)`, rewritten every second so readers see it count down.
   */
  async waiting<T>(name: string, deadlineMs: number, text: (secondsLeft: number) => string, fn: () => Promise<T>): Promise<T> {
    const step = this.steps.find((s) => s.name === name);
    if (!step) throw new Error(`unknown step ${name}`);
    let last = '';
    const tick = () => {
      const next = text(Math.max(0, Math.ceil((deadlineMs - Date.now()) / 1000)));
      if (next === last || step.state !== 'running') return;
      last = next;
      step.detail = next;
      void this.publish(name, this.percent).catch(() => undefined);
    };
    tick();
    const timer = setInterval(tick, 1000);
    try {
      return await fn();
    } finally {
      clearInterval(timer);
    }
  }

  /**
   * Takes the steps' states from the job's last progress: a job that comes back for a step spanning
   * several of its runs (a create's wait-ready) shows the steps it did in earlier runs.
   */
  resume(): void {
    const prev = (typeof this.job.progress === 'object' ? this.job.progress : null) as ProgressData | null;
    for (const s of prev?.steps ?? []) {
      const mine = this.steps.find((x) => x.name === s.name);
      if (mine) Object.assign(mine, s);
    }
  }

  /** When step `name` started (ms), also in an earlier run of the job; null when it has not. */
  startedAt(name: string): number | null {
    const at = this.steps.find((s) => s.name === name)?.started_at;
    return at ? Date.parse(at) : null;
  }

  /** Starts step `name`, which `end` finishes, in this run of the job or a later one. */
  async begin(name: string, detail?: string): Promise<void> {
    const step = this.step(name);
    step.state = 'running';
    step.started_at = new Date().toISOString();
    if (detail === undefined) delete step.detail;
    else step.detail = detail;
    await this.log(`step ${name} started`);
    await this.publish(name, this.base(this.steps.indexOf(step)));
  }

  /**
   * For steps that one remote program does in a row and announces as it goes (a create's one exec):
   * `mark(step, phase)`, called as its output arrives, records each begin and end in order without
   * holding the program up; `settle(error)` waits for those records and, when the program failed, fails
   * the step it was in. A step already succeeded (in an earlier pass of the same job run) is not redone.
   */
  track(): { mark: (step: string, phase: 'begin' | 'end') => void; settle: (error?: unknown) => Promise<void> } {
    let chain: Promise<void> = Promise.resolve();
    let failure: unknown = null;
    let current: string | null = null;
    const mark = (name: string, phase: 'begin' | 'end') => {
      if (this.steps.find((s) => s.name === name)?.state === 'succeeded') return;
      current = phase === 'begin' ? name : null;
      chain = chain
        .then(() => (phase === 'begin' ? this.begin(name) : this.end(name, true)))
        .catch((e: unknown) => {
          failure ??= e;
        });
    };
    const settle = async (error?: unknown) => {
      await chain;
      if (error !== undefined && current) {
        await this.end(current, false, error instanceof Error ? error.message : String(error)).catch(() => undefined);
        current = null;
      }
      if (failure) throw failure;
    };
    return { mark, settle };
  }

  /** Says what the running step `name` waits for; published only when it changed. */
  async detail(name: string, text: string): Promise<void> {
    const step = this.step(name);
    if (step.detail === text) return;
    step.detail = text;
    await this.publish(name, this.percent);
  }

  /** Ends step `name` begun with `begin`, successfully or not (the reason goes to the job's log). */
  async end(name: string, ok: boolean, why = ''): Promise<void> {
    const step = this.step(name);
    const i = this.steps.indexOf(step);
    const seconds = (Date.now() - (this.startedAt(name) ?? Date.now())) / 1000;
    delete step.detail;
    step.state = ok ? 'succeeded' : 'failed';
    step.finished_at = new Date().toISOString();
    this.onStepEnd?.(name, seconds, ok);
    // Worded as run's lines are.
    const ms = Math.round(seconds * 1000);
    await this.log(ok ? `step ${name} succeeded in ${ms} ms${why ? `: ${why}` : ''}` : `step ${name} failed after ${ms} ms${why ? `: ${why}` : ''}`);
    await this.publish(name, ok ? this.base(i + 1) : this.percent);
  }

  /** Marks step `name` skipped: there was nothing for it to do (`why` goes to the job's log). */
  async skip(name: string, why: string): Promise<void> {
    const step = this.step(name);
    delete step.detail;
    step.state = 'skipped';
    step.finished_at = new Date().toISOString();
    await this.log(`step ${name} skipped: ${why}`);
    await this.publish(name, this.base(this.steps.indexOf(step) + 1));
  }

  /** Appends a line to the job's log (shown by the dashboard), redacted; a failed write never fails the job. */
  async log(line: string): Promise<void> {
    await this.job.log(`${new Date().toISOString()} ${redactText(line)}`).catch(() => undefined);
  }

  private step(name: string): StepView {
    const step = this.steps.find((s) => s.name === name);
    if (!step) throw new Error(`unknown step ${name}`);
    return step;
  }

  private base(i: number): number {
    return this.weights.slice(0, i).reduce((a, b) => a + b, 0);
  }

  private async publish(step: string, percent: number): Promise<void> {
    this.percent = Math.max(this.percent, Math.min(100, Math.round(percent * 10) / 10));
    const data: ProgressData = { percent: this.percent, step, steps: this.steps.map((s) => ({ ...s })) };
    await this.job.updateProgress(data);
  }
}
