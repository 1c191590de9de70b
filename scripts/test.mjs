#!/usr/bin/env node
/**
 * `npm test` and `npm run test:quick`: lint and typecheck (side by side: one is Biome, the other tsc), then
 * vitest, then a summary from vitest's JSON report: the 10 slowest files, each project's time, and as the
 * last line the count and the duration, e.g.
 *
 *   npm test: passed, 943 of 943 tests passed, 0 failed, 0 skipped (116 files) in 612 s (lint 9 s, typecheck 41 s, vitest 562 s)
 *
 * `--quick`: the inner loop (lint, typecheck, the unit project: pure code and the stores against real Redis),
 * all three at once. Other arguments go to vitest (`npm test -- test/e2e/ui.int.test.ts`). The JSON report is
 * kept in test-artifacts/vitest.json (not committed) for a closer look (docs/testing.md).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const vitestArgs = args.filter((a) => a !== '--quick');
const label = quick ? 'npm run test:quick' : 'npm test';
const report = join(root, 'test-artifacts', quick ? 'vitest-quick.json' : 'vitest.json');
mkdirSync(dirname(report), { recursive: true });
const bin = (name) => join(root, 'node_modules', '.bin', name);
const seconds = (ms) => `${Math.round(ms / 1000)} s`;

/** Runs a command; `buffer` keeps its output until it ends (so steps run side by side do not interleave). */
function run(name, cmd, argv, buffer) {
  const t0 = Date.now();
  return new Promise((done) => {
    const child = spawn(cmd, argv, { cwd: root, stdio: buffer ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    const out = [];
    child.stdout?.on('data', (d) => out.push(d));
    child.stderr?.on('data', (d) => out.push(d));
    child.on('close', (code, signal) => {
      const ms = Date.now() - t0;
      if (buffer) {
        const text = Buffer.concat(out).toString();
        process.stdout.write(`> ${name} (${seconds(ms)}, exit ${code ?? signal})\n${code === 0 ? '' : text}`);
      }
      done({ name, ok: code === 0, ms });
    });
  });
}

const t0 = Date.now();
const vitest = () =>
  run(
    'vitest',
    bin('vitest'),
    ['run', ...(quick ? ['--project', 'unit'] : []), '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...vitestArgs],
    false,
  );
const checks = [run('lint', bin('biome'), ['check', '.'], true), run('typecheck', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit'], true)];
let steps;
if (quick) {
  steps = await Promise.all([...checks, vitest()]);
} else {
  const first = await Promise.all(checks);
  // As before: no tests when lint or typecheck fails.
  steps = first.every((s) => s.ok) ? [...first, await vitest()] : first;
}
const total = Date.now() - t0;

let summary = 'no test ran';
let testsOk = steps.find((s) => s.name === 'vitest')?.ok ?? false;
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  if (r.startTime >= t0) {
    const files = r.testResults.map((f) => ({ file: relative(root, f.name), ms: f.endTime - f.startTime, tests: f.assertionResults.length }));
    const project = (f) =>
      f.startsWith('test/guest/') ? 'guest' : f === 'test/chaos/faults-round3.int.test.ts' ? 'exclusive' : f.endsWith('.int.test.ts') ? 'integration' : 'unit';
    if (files.length > 1) {
      console.log('\nslowest test files:');
      for (const f of [...files].sort((a, b) => b.ms - a.ms).slice(0, 10)) console.log(`  ${seconds(f.ms).padStart(6)}  ${f.file} (${f.tests} tests)`);
      const per = new Map();
      for (const f of files) {
        const p = per.get(project(f.file)) ?? { files: 0, ms: 0 };
        per.set(project(f.file), { files: p.files + 1, ms: p.ms + f.ms });
      }
      console.log(`per project (sum of file durations): ${[...per].map(([p, v]) => `${p} ${seconds(v.ms)} over ${v.files} files`).join(', ')}`);
    }
    summary = `${r.numPassedTests} of ${r.numTotalTests} tests passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped (${files.length} files)`;
    testsOk &&= r.numFailedTests === 0;
  }
} catch {
  // vitest did not write its report (it did not run, or crashed): the summary says so.
}
const ok = steps.every((s) => s.ok) && (steps.some((s) => s.name === 'vitest') ? testsOk : false);
const parts = steps.map((s) => `${s.name} ${seconds(s.ms)}${s.ok ? '' : ' FAILED'}`).join(', ');
console.log(`${label}: ${ok ? 'passed' : 'FAILED'}, ${summary} in ${seconds(total)} (${parts})`);
process.exitCode = ok ? 0 : 1;
