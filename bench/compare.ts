/**
 * Benchmark rows of this checkout side by side with another commit's, in one run:
 *
 *   node --import tsx bench/compare.ts --base 87e17b9 [--head HEAD] --rows 1,3,4 [--rounds 3] [--quick]
 *
 * Both commits are checked out in temporary git worktrees (so edits in this working tree do not leak into
 * the run). Each round runs every row once for the base and once for the head (who goes first alternates
 * by round), each in a fresh process whose working directory is that side's checkout, so a row starts that
 * side's API and worker with that side's bench code. Rounds interleave, so both sides share the machine's
 * noise. Prints, per figure, the medians of both and head/base; writes bench/results/compare.json and
 * bench/results/compare.md. Each row also measures a reference beside ours (the replaced service, a bare
 * hello-world, bare BullMQ); ours ÷ that reference, round by round, shows the change with less of the
 * machine's load in it. `--summarize bench/results/compare.json` prints a finished run's table again.
 *
 * A worktree's node_modules links every npm package of this checkout's node_modules (when its lockfile
 * pins the same npm packages; otherwise it runs `npm ci` there) and its own workspace packages, so each
 * side runs its own packages' code.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type BenchContext, type Figure, fmt, loopbackHost, median, type Row, type RowResult } from './lib.ts';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    head: { type: 'string', default: 'HEAD' },
    rows: { type: 'string', default: '1,3,4' },
    rounds: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    // Summarize a finished run's bench/results/compare.json again, without running anything.
    summarize: { type: 'string' },
    // Internal: run one row of the checkout at --root once, writing its RowResult to --out.
    one: { type: 'string' },
    root: { type: 'string' },
    out: { type: 'string' },
  },
});

/** The row objects a checkout's bench/rows/*.ts export, by row number. */
async function rowsOf(root: string): Promise<Map<number, Row>> {
  const found = new Map<number, Row>();
  for (const f of readdirSync(join(root, 'bench/rows')).filter((f) => f.endsWith('.ts'))) {
    const mod = (await import(pathToFileURL(join(root, 'bench/rows', f)).href)) as Record<string, unknown>;
    for (const v of Object.values(mod)) {
      const r = v as Partial<Row>;
      if (r && typeof r.row === 'number' && typeof r.run === 'function') found.set(r.row, r as Row);
    }
  }
  return found;
}

if (values.one) {
  const root = values.root ?? here;
  const row = (await rowsOf(root)).get(Number(values.one));
  if (!row) throw new Error(`${root} has no bench row ${values.one}`);
  const ctx: BenchContext = { host: loopbackHost(), quick: values.quick ?? false, log: (m) => process.stderr.write(`  ${m}\n`) };
  writeFileSync(values.out ?? '/dev/stdout', JSON.stringify(await row.run(ctx)));
  process.exit(0);
}

type Side = 'base' | 'head';
interface Run {
  base: string;
  head: string;
  rows: number[];
  rounds: number;
  quick: boolean;
  results: Record<Side, Record<number, RowResult[]>>;
}
const log = (m: string) => process.stderr.write(`compare: ${m}\n`);
const git = (...args: string[]) => execFileSync('git', args, { cwd: here, encoding: 'utf8' }).trim();

async function measure(base: string, head: string, rows: number[], rounds: number): Promise<Run> {
  if (!existsSync('/var/lib/provisioner-local/host.json')) {
    execFileSync('bash', ['scripts/ensure-deps.sh'], { cwd: here, stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('bash', ['install-server.sh', '--local', '--skip-packages'], { cwd: here, stdio: ['ignore', 'ignore', 'inherit'] });
  }

  const baseSha = git('rev-parse', '--short', base);
  const headSha = git('rev-parse', '--short', head);
  const work = mkdtempSync(join(tmpdir(), 'bench-compare-'));

  /** The npm packages a lockfile pins (workspace links left out: each checkout links its own). */
  function npmPackages(lock: string): string {
    const pkgs = (JSON.parse(lock) as { packages: Record<string, { link?: boolean; version?: string; resolved?: string }> }).packages;
    return JSON.stringify(
      Object.entries(pkgs)
        .filter(([k, v]) => k.startsWith('node_modules/') && !v.link)
        .map(([k, v]) => [k, v.version, v.resolved])
        .sort(),
    );
  }

  /** A worktree of `sha` with node_modules: this checkout's npm packages linked, its own workspace packages. */
  function checkout(sha: string): string {
    const root = join(work, sha);
    git('worktree', 'add', '--detach', root, sha);
    if (npmPackages(readFileSync(join(here, 'package-lock.json'), 'utf8')) !== npmPackages(readFileSync(join(root, 'package-lock.json'), 'utf8'))) {
      log(`${sha}: its lockfile pins other npm packages; npm ci there`);
      execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
      return root;
    }
    log(`${sha}: same npm packages as this checkout; linking them, with ${sha}'s own workspace packages`);
    const nm = join(root, 'node_modules');
    mkdirSync(join(nm, '@provisioner'), { recursive: true });
    for (const e of readdirSync(join(here, 'node_modules'))) if (e !== '@provisioner') symlinkSync(join(here, 'node_modules', e), join(nm, e));
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
    for (const pattern of pkg.workspaces) {
      const parent = join(root, pattern.replace(/\/\*$/, ''));
      for (const d of readdirSync(parent)) {
        const pj = join(parent, d, 'package.json');
        if (!existsSync(pj)) continue;
        const name = (JSON.parse(readFileSync(pj, 'utf8')) as { name: string }).name;
        if (name.startsWith('@provisioner/')) symlinkSync(join(parent, d), join(nm, name));
      }
    }
    return root;
  }

  const roots = { base: checkout(baseSha), head: checkout(headSha) };

  function runOne(root: string, row: number, out: string): Promise<RowResult> {
    const args = ['--import', 'tsx', join(here, 'bench/compare.ts'), '--one', String(row), '--root', root, '--out', out];
    if (values.quick) args.push('--quick');
    return new Promise((ok, fail) => {
      const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
      child.on('exit', (code) =>
        code === 0 ? ok(JSON.parse(readFileSync(out, 'utf8')) as RowResult) : fail(new Error(`row ${row} in ${root} exited ${code}`)),
      );
    });
  }

  const results: Record<Side, Record<number, RowResult[]>> = { base: {}, head: {} };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const row of rows) {
        const order: Side[] = round % 2 === 0 ? ['base', 'head'] : ['head', 'base'];
        for (const side of order) {
          log(`round ${round + 1}/${rounds}, row ${row}, ${side === 'base' ? baseSha : headSha}`);
          const r = await runOne(roots[side], row, join(work, `${side}-${row}-${round}.json`));
          results[side][row] = [...(results[side][row] ?? []), r];
        }
      }
    }
  } finally {
    for (const root of Object.values(roots)) execFileSync('git', ['worktree', 'remove', '--force', root], { cwd: here });
    rmSync(work, { recursive: true, force: true });
  }
  return { base: baseSha, head: headSha, rows, rounds, quick: values.quick ?? false, results };
}

/** A figure's median over every round: samples pooled, or the median of the rounds' single values. */
function medianOf(runs: RowResult[], what: string): { value: number; unit: string } | null {
  const figs = runs.flatMap((r) => r.figures.filter((f) => f.what === what));
  if (figs.length === 0) return null;
  const unit = figs[0]?.unit ?? '';
  return { value: median(figs.flatMap((f) => f.samples ?? (f.value === undefined ? [] : [f.value]))), unit };
}

/**
 * The reference each row measures beside ours in the same run (the replaced service, a bare hello-world,
 * bare BullMQ): it shows how busy the machine was then, so ours ÷ reference, taken round by round, is
 * steadier on a shared machine than ours alone.
 */
const REFERENCE: Record<number, { figures: RegExp; divisor: RegExp }> = {
  1: { figures: /^replaced service/, divisor: /^replaced service, .* at loopback$/ },
  3: { figures: /hello-world/, divisor: /^bare Hono hello-world/ },
  4: { figures: /^BullMQ/, divisor: /^BullMQ add → active/ },
};

/** Per round, a figure's median divided by the reference's of the same run; the median over rounds. */
function relativeOf(runs: RowResult[], what: string, ref: RegExp): number {
  const per = runs.flatMap((r) => {
    const m = (f: Figure | undefined) => (f ? median(f.samples ?? (f.value === undefined ? [] : [f.value])) : Number.NaN);
    const v = m(r.figures.find((f) => f.what === what)) / m(r.figures.find((f) => ref.test(f.what)));
    return Number.isFinite(v) ? [v] : [];
  });
  return median(per);
}

const show = (v: number, unit: string) => (unit === 'ms' ? fmt(v) : `${v.toFixed(unit === 'req/s' ? 0 : 1)} ${unit}`);
if (!values.summarize && !values.base) throw new Error('--base <commit> is required');
const run: Run = values.summarize
  ? (JSON.parse(readFileSync(values.summarize, 'utf8')) as Run)
  : await measure(values.base ?? '', values.head ?? 'HEAD', (values.rows ?? '').split(',').map(Number), Number(values.rounds));
const { base: baseSha, head: headSha } = run;
const lines = [
  `${headSha} vs ${baseSha}, ${run.rounds} interleaved round(s)${run.quick ? ', --quick counts' : ''}`,
  '',
  `| row | measured | ${baseSha} median | ${headSha} median | ${headSha}/${baseSha} | ÷ reference, ${headSha}/${baseSha} | within 10% or better |`,
  '| --- | --- | --- | --- | --- | --- | --- |',
];
for (const row of run.rows ?? Object.keys(run.results.head).map(Number)) {
  const base = run.results.base[row] ?? [];
  const head = run.results.head[row] ?? [];
  const ref = REFERENCE[row];
  for (const what of [...new Set(head.flatMap((r) => r.figures.map((f) => f.what)))]) {
    const b = medianOf(base, what);
    const h = medianOf(head, what);
    if (!b || !h) continue;
    const ratio = h.value / b.value;
    const isRef = ref?.figures.test(what) ?? false;
    // Only a figure in the divisor's unit (a rate by a rate, a time by a time).
    const refUnit = head[0]?.figures.find((f) => ref?.divisor.test(f.what))?.unit;
    const rel = !ref || isRef || refUnit !== h.unit ? Number.NaN : relativeOf(head, what, ref.divisor) / relativeOf(base, what, ref.divisor);
    // Rates are better higher; times better lower. Either the plain or the relative ratio may show it.
    const good = (x: number) => (h.unit === 'req/s' ? x >= 0.9 : x <= 1.1);
    const ok = good(ratio) || good(rel);
    lines.push(
      `| ${row} | ${what}${isRef ? ' (reference)' : ''} | ${show(b.value, b.unit)} | ${show(h.value, h.unit)} | ${ratio.toFixed(2)} | ${Number.isFinite(rel) ? rel.toFixed(2) : ''} | ${isRef ? '' : ok ? 'yes' : '**no**'} |`,
    );
  }
}
mkdirSync(join(here, 'bench/results'), { recursive: true });
if (!values.summarize) writeFileSync(join(here, 'bench/results/compare.json'), `${JSON.stringify(run, null, 2)}\n`);
writeFileSync(join(here, 'bench/results/compare.md'), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
process.exit(0);
