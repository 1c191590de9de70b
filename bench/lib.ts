/** What every benchmark row shares: the loopback host, statistics, timing, and the result format. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { LoopbackHost } from '../test/support/host.ts';

export interface Figure {
  /** What was measured, e.g. "create → running (ours, image cached)". */
  what: string;
  /** Samples in milliseconds (or the unit given). */
  samples?: number[];
  value?: number;
  unit: string;
}

export interface RowResult {
  row: number;
  title: string;
  figures: Figure[];
  /** Each target: what it asks, the measured value, and whether it is met. */
  targets: Array<{ target: string; measured: string; met: boolean }>;
  notes: string[];
}

export interface Row {
  row: number;
  title: string;
  run(ctx: BenchContext): Promise<RowResult>;
}

export interface BenchContext {
  host: LoopbackHost;
  /** Smaller counts for a quick check (`--quick`). */
  quick: boolean;
  log(msg: string): void;
}

export function loopbackHost(): LoopbackHost {
  return JSON.parse(readFileSync('/var/lib/provisioner-local/host.json', 'utf8')) as LoopbackHost;
}

export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const s = [...samples].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i] as number;
}

export const median = (s: readonly number[]) => quantile(s, 0.5);

export function summary(s: readonly number[]): { n: number; p50: number; p90: number; p99: number } {
  return { n: s.length, p50: median(s), p90: quantile(s, 0.9), p99: quantile(s, 0.99) };
}

export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const out = await fn();
  return [performance.now() - t0, out];
}

export const fmt = (ms: number) =>
  ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;

/** Resident memory of a process in MiB (from /proc). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Runs a shell command as the loopback host's automation user (what the replaced service did over SSH). */
export function sh(script: string, ...args: string[]): string {
  return execFileSync('sh', ['-c', script, 'sh', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

export interface JobEnd {
  id: string;
  state: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  steps: Array<{ name: string; started_at: string | null; finished_at: string | null }>;
  error: { message: string } | null;
}

/** Submits a create through the API and follows its event stream to the end. */
export async function createVm(
  stack: { fetch(path: string, init?: RequestInit): Promise<Response> },
  body: { vm_name: string; image: string; instance_type: string },
): Promise<JobEnd> {
  const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ region_name: 'r1', ...body }) });
  if (r.status !== 202) throw new Error(`create ${body.vm_name}: HTTP ${r.status} ${await r.text()}`);
  const { id } = (await r.json()) as { id: string };
  return waitEnd(stack, id);
}

export async function waitEnd(stack: { fetch(path: string, init?: RequestInit): Promise<Response> }, id: string): Promise<JobEnd> {
  const text = await (await stack.fetch(`/v1/jobs/${id}/events`)).text();
  const last = text
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .at(-1);
  const view = JSON.parse(last?.slice(5) ?? '{}') as JobEnd;
  if (!['succeeded', 'failed', 'canceled'].includes(view.state)) throw new Error(`job ${id} stream ended in state ${view.state}`);
  return view;
}

export const span = (from: string | null, to: string | null) => (from && to ? Date.parse(to) - Date.parse(from) : Number.NaN);

/** Files under the host's image cache, to remove exactly what a row added. */
export function cacheListing(imagesDir: string): Set<string> {
  return new Set(sh('cd "$1" && find . -mindepth 1 -maxdepth 2 \\( -type f -o -type l \\) | sort', imagesDir).split('\n').filter(Boolean));
}

export function removeNewCacheEntries(imagesDir: string, before: Set<string>): void {
  for (const f of cacheListing(imagesDir)) if (!before.has(f)) sh('rm -f -- "$1/$2"', imagesDir, f);
}

/** A preallocated qcow2 image of `mib` MiB (the whole file travels on download, like a real image). */
export function makeBigImage(dir: string, name: string, mib: number): void {
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'preallocation=falloc', `${dir}/${name}`, `${mib}M`]);
}

/** CPU time (user + system) a process has used so far, in milliseconds (from /proc; clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return Number.NaN;
  }
}
