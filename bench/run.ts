/**
 * The benchmark suite (`npm run bench`, or `npm run bench -- --rows 1,7 --quick`): runs the rows of
 * BENCHMARKS.md side by side on this machine against the loopback host, prints a table, and writes the
 * figures to bench/results/latest.json and bench/results/latest.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { type BenchContext, fmt, loopbackHost, type Row, type RowResult, summary } from './lib.ts';
import { row as apiRate, memoryRow } from './rows/api-rate.ts';
import { row as burst } from './rows/burst.ts';
import { row as createCached } from './rows/create-cached.ts';
import { row as createUncached } from './rows/create-uncached.ts';
import { row as fleet } from './rows/fleet.ts';
import { row as guestReady } from './rows/guest-ready.ts';
import { row as listing } from './rows/listing.ts';
import { row as pickup } from './rows/pickup.ts';
import { row as sshPool } from './rows/ssh-pool.ts';

const ROWS: Row[] = [createCached, createUncached, apiRate, pickup, listing, burst, sshPool, memoryRow, guestReady, fleet].sort((a, b) => a.row - b.row);

const { values } = parseArgs({ options: { rows: { type: 'string' }, quick: { type: 'boolean', default: false } } });
const wanted = values.rows ? new Set(values.rows.split(',').map(Number)) : null;
execFileSync('bash', ['scripts/ensure-deps.sh'], { stdio: ['ignore', 'ignore', 'inherit'] });
execFileSync('bash', ['install-server.sh', '--local', '--skip-packages'], { stdio: ['ignore', 'ignore', 'inherit'] });
const ctx: BenchContext = { host: loopbackHost(), quick: values.quick ?? false, log: (m) => process.stderr.write(`bench: ${m}\n`) };

const results: RowResult[] = [];
for (const r of ROWS) {
  if (wanted && !wanted.has(r.row)) continue;
  ctx.log(`row ${r.row}: ${r.title}`);
  const t0 = Date.now();
  try {
    results.push(await r.run(ctx));
  } catch (e) {
    results.push({
      row: r.row,
      title: r.title,
      figures: [],
      targets: [{ target: 'row ran', measured: `error: ${(e as Error).message}`, met: false }],
      notes: [],
    });
  }
  ctx.log(`row ${r.row} took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

const cell = (f: RowResult['figures'][number]) => {
  if (f.samples) {
    const s = summary(f.samples);
    return f.unit === 'ms' ? `n=${s.n} · p50 ${fmt(s.p50)} · p90 ${fmt(s.p90)} · p99 ${fmt(s.p99)}` : `n=${s.n} · p50 ${s.p50.toFixed(1)} ${f.unit}`;
  }
  return f.unit === 'ms' ? fmt(f.value ?? Number.NaN) : `${(f.value ?? Number.NaN).toFixed(f.unit === 'MiB' ? 0 : 1)} ${f.unit}`;
};
const lines = [
  `Run ${new Date().toISOString()} on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, KVM ${ctx.host.kvm ? 'yes' : 'no (software emulation)'}${ctx.quick ? ', --quick' : ''}`,
  '',
];
for (const r of results) {
  lines.push(`### Row ${r.row}: ${r.title}`, '', '| measured | result |', '| --- | --- |');
  for (const f of r.figures) lines.push(`| ${f.what} | ${cell(f)} |`);
  lines.push('', '| target | measured | met |', '| --- | --- | --- |');
  for (const t of r.targets) lines.push(`| ${t.target} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`);
  for (const n of r.notes) lines.push('', n);
  lines.push('');
}
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/latest.json', `${JSON.stringify({ at: new Date().toISOString(), quick: ctx.quick, results }, null, 2)}\n`);
writeFileSync('bench/results/latest.md', `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
process.exit(0);
