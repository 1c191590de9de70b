/** RELIABILITY.md's generated tables: each chaos file owns the part between its markers. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** One fault injected and what was found after it. */
export interface ChaosRow {
  scenario: string;
  run: number;
  fault: string;
  outcome: string;
  attempts: number;
  seconds: number;
  leftovers: string[];
}

/** The first line of every generated part: when, how many runs, on which Node. */
export function runLine(count: number): string {
  return `Run ${new Date().toISOString()} with CHAOS_COUNT=${count} (Node ${process.version}).`;
}

/** Median and maximum, one decimal: `1.2 / 3.4`. */
export function medianMax(values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  return `${(s[Math.floor(s.length / 2)] ?? 0).toFixed(1)} / ${(s.at(-1) ?? 0).toFixed(1)}`;
}

/**
 * A summary per scenario and a line per run. Outcomes are counted by `outcomeKey` (the whole text by
 * default; a file whose outcomes carry per-run details after a `;` counts by what comes before it).
 */
export function runTables(rows: ChaosRow[], outcomeKey: (outcome: string) => string = (o) => o): string[] {
  const by = new Map<string, ChaosRow[]>();
  for (const r of rows) by.set(r.scenario, [...(by.get(r.scenario) ?? []), r]);
  const lines = ['| scenario | runs | outcomes | leftovers | seconds per run (median / max) |', '| --- | --- | --- | --- | --- |'];
  for (const [scenario, rs] of by) {
    const keys = rs.map((r) => outcomeKey(r.outcome));
    const outcomes = rs.length === 1 ? (rs[0]?.outcome ?? '') : [...new Set(keys)].map((k) => `${k}: ${keys.filter((x) => x === k).length}`).join(', ');
    const left = rs.flatMap((r) => r.leftovers);
    lines.push(`| ${scenario} | ${rs.length} | ${outcomes} | ${left.length ? left.join(', ') : 'none'} | ${medianMax(rs.map((r) => r.seconds))} |`);
  }
  lines.push('', '| scenario | run | fault | outcome | attempts | seconds |', '| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) lines.push(`| ${r.scenario} | ${r.run} | ${r.fault} | ${r.outcome} | ${r.attempts} | ${r.seconds.toFixed(1)} |`);
  return lines;
}

/** Replaces the part of `path` between `<!-- NAME:begin -->` and `<!-- NAME:end -->` (appended when missing). */
export function replaceMarked(path: string, name: string, body: string[]): void {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const lines = [begin, ...body, end];
  const text = existsSync(path) ? readFileSync(path, 'utf8') : `${begin}\n${end}\n`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  const next = from >= 0 && to > from ? `${text.slice(0, from)}${lines.join('\n')}${text.slice(to + end.length)}` : `${text}\n${lines.join('\n')}\n`;
  writeFileSync(path, next);
}
