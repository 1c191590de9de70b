/**
 * Shows a job's progress on stderr: on a terminal a bar redrawn in place with the current step;
 * otherwise (a pipe, a CI log) one plain line whenever the state or the step changes.
 */
import type { JobView as Job } from '@provisioner/client';

export interface Out {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** `[########----------------]` for `percent` (clamped to 0–100). */
export function bar(percent: number, width = 24): string {
  const p = Math.min(100, Math.max(0, percent));
  const full = Math.round((p / 100) * width);
  return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
}

export const target = (j: Job) => (j.target.vm_name ? `${j.target.region}/${j.target.vm_name}` : `${j.target.region}/${j.target.host}`);
const pct = (j: Job) => `${Math.floor(j.state === 'succeeded' ? 100 : j.progress)}%`.padStart(4);

/**
 * What the running step says it waits for (`graceful shutdown; forcing in 47 s`), as the event stream
 * carries it in the step's `detail`; null when it says nothing or no step runs.
 */
export function stepDetail(j: Job): string | null {
  if (j.state !== 'running' || !j.step) return null;
  return j.steps.find((s) => s.name === j.step && s.state === 'running')?.detail || null;
}

/**
 * The line drawn on a terminal: what, the bar, the percentage, and the step with its detail (or the state
 * when none runs). `withBar: false` leaves the bar out (for a line that would not fit with it).
 */
export function progressLine(j: Job, withBar = true): string {
  const detail = stepDetail(j);
  const what = j.state === 'running' && j.step ? `${j.step}${detail ? `: ${detail}` : ''}` : j.state;
  const retry = j.attempts > 0 && !['succeeded', 'failed', 'canceled'].includes(j.state) ? ` (attempt ${j.attempts + 1})` : '';
  return `${j.kind} ${target(j)} ${withBar ? `${bar(j.progress)} ` : ''}${pct(j)} ${what}${retry}`;
}

/** The plain line written when the state, the step or what the step says changes. */
export function stepLine(j: Job): string {
  const detail = stepDetail(j);
  return `${j.id} ${j.state}${j.step && j.state === 'running' ? ` step=${j.step}` : ''} ${pct(j).trim()}${detail ? ` ${detail}` : ''}`;
}

export class ProgressReporter {
  private last = '';
  private drawn = false;

  /**
   * @param out where to draw (stderr)
   * @param clean what the line's text (names, step details from the API) becomes before it is drawn: on a
   *   terminal, sanitize (the reporter's own `\r` and erase-line escapes are written around it)
   */
  constructor(
    private readonly out: Out,
    private readonly clean: (s: string) => string = (s) => s,
  ) {}

  update(j: Job): void {
    if (this.out.isTTY) {
      // A terminal that reports no size (a bare pty) says 0 columns: assume 80.
      const width = Math.max(20, (this.out.columns || 80) - 1);
      // What the step says (a countdown) matters more than the bar: the bar goes first when the line is too wide.
      const full = this.clean(progressLine(j));
      const line = (full.length <= width ? full : this.clean(progressLine(j, false))).slice(0, width);
      if (line === this.last) return;
      this.last = line;
      this.drawn = true;
      this.out.write(`\r\x1b[2K${line}`);
      return;
    }
    // A countdown's seconds change every second: one line when what it says changes, not for each tick.
    const key = `${j.state}|${j.state === 'running' ? j.step : ''}|${stepDetail(j)?.replace(/[0-9]+/g, '#') ?? ''}`;
    if (key === this.last) return;
    this.last = key;
    this.out.write(`${this.clean(stepLine(j))}\n`);
  }

  /** Ends the bar's line so what follows starts on a fresh one. */
  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
