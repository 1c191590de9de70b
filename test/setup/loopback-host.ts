/**
 * Vitest global setup for integration tests: prepares (idempotently) the loopback hypervisor host with
 * the project's own install-server.sh and hands its connection facts to the tests; builds the API and worker
 * bundles the tests' stacks run (`spawnApp` in test/support/stack.ts), once per run.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import type { LoopbackHost } from '../support/host.ts';
import { RUN_SOURCES } from '../support/stack.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Set when this run has built the bundles: every project with this setup shares one build. */
const built = Symbol.for('provisioner.test.bundlesBuilt');

export default async function setup(project: TestProject): Promise<void> {
  const g = globalThis as { [built]?: Promise<void> };
  if (!RUN_SOURCES) {
    // @ts-expect-error: a plain .mjs script without type declarations
    g[built] ??= import('../../scripts/build.mjs').then((m: { buildBundles(): Promise<void> }) => m.buildBundles());
    await g[built];
  }
  const args = ['install-server.sh', '--local'];
  // CI installs the packages in .ci/run; a developer machine may not have them yet.
  if (process.env.PROVISIONER_TEST_SKIP_PACKAGES === '1') args.push('--skip-packages');
  const out = execFileSync('bash', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });
  const last = out.trim().split('\n').at(-1) ?? '';
  if (!last.startsWith('provisioner-host ')) throw new Error(`install-server.sh did not print its host line: ${last}`);
  const host = JSON.parse(readFileSync('/var/lib/provisioner-local/host.json', 'utf8')) as LoopbackHost;
  project.provide('loopbackHost', host);
}

declare module 'vitest' {
  export interface ProvidedContext {
    loopbackHost: LoopbackHost;
  }
}
