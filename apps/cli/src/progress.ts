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

/** The line drawn on a terminal: what, the bar, the percentage, and the step (or the state when none runs). */
export function progressLine(j: Job): string {
  const what = j.state === 'running' && j.step ? j.step : j.state;
  const retry = j.attempts > 0 && !['succeeded', 'failed', 'canceled'].includes(j.state) ? ` (attempt ${j.attempts + 1})` : '';
  return `${j.kind} ${target(j)} ${bar(j.progress)} ${pct(j)} ${what}${retry}`;
}

/** The plain line written when the state or step changes. */
export function stepLine(j: Job): string {
  return `${j.id} ${j.state}${j.step && j.state === 'running' ? ` step=${j.step}` : ''} ${pct(j).trim()}`;
}

export class ProgressReporter {
  private last = '';
  private drawn = false;

  constructor(private readonly out: Out) {}

  update(j: Job): void {
    if (this.out.isTTY) {
      // A terminal that reports no size (a bare pty) says 0 columns: assume 80.
      const width = Math.max(20, (this.out.columns || 80) - 1);
      const line = progressLine(j).slice(0, width);
      if (line === this.last) return;
      this.last = line;
      this.drawn = true;
      this.out.write(`\r\x1b[2K${line}`);
      return;
    }
    const key = `${j.state}|${j.state === 'running' ? j.step : ''}`;
    if (key === this.last) return;
    this.last = key;
    this.out.write(`${stepLine(j)}\n`);
  }

  /** Ends the bar's line so what follows starts on a fresh one. */
  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
