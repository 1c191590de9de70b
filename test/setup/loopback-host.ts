/**
 * Vitest global setup for integration tests: prepares (idempotently) the loopback hypervisor host with
 * the project's own install-server.sh and hands its connection facts to the tests.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import type { LoopbackHost } from '../support/host.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export default function setup(project: TestProject): void {
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
