/**
 * Container entry point: runs the API, the worker, or both, chosen by ROLE (`api`, `worker` or `all`,
 * the default: the single-container deployment `docker run --env-file provisioner/secrets IMAGE`).
 * Each role is its own Node process (`node apps/<role>/dist/main.js` in production, after `npm run build`, else
 * `node --import tsx apps/<role>/src/main.ts`) writing to this one's
 * stdout/stderr. SIGTERM and SIGINT are passed on; when one process ends, the others are stopped and this
 * one exits with the first non-zero status, so a refusal to start stops the container as a whole.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRIES = { api: 'apps/api/src/main.ts', worker: 'apps/worker/src/main.ts' };
const ROLES = { api: ['api'], worker: ['worker'], all: ['worker', 'api'] };
/** After a stop, how long the processes get before SIGKILL: the worker lets running jobs finish (compose's stop_grace_period is 2m). */
const GRACE_MS = Number(process.env.STOP_GRACE_MS || 110_000);

const role = process.env.ROLE || 'all';
if (!Object.hasOwn(ROLES, role)) {
  process.stderr.write(`provisioner: unknown ROLE '${role}' (api, worker or all)\n`);
  process.exit(2);
}

// In production (the image sets NODE_ENV) the bundles of `npm run build`; the TypeScript sources otherwise,
// so a stale bundle in a working tree never runs instead of the code being tested.
const bundled = (r) => process.env.NODE_ENV === 'production' && existsSync(resolve(root, `apps/${r}/dist/main.js`));
const argv = (r) => (bundled(r) ? [`apps/${r}/dist/main.js`] : ['--import', 'tsx', ENTRIES[r]]);
const children = ROLES[role].map((r) => spawn(process.execPath, argv(r), { cwd: root, stdio: 'inherit' }));
const running = () => children.filter((c) => c.exitCode === null && c.signalCode === null);
let status = 0;
let stopping = false;

function stop(signal) {
  if (stopping) return;
  stopping = true;
  for (const c of running()) c.kill(signal);
  setTimeout(() => {
    for (const c of running()) c.kill('SIGKILL');
  }, GRACE_MS).unref();
}

for (const child of children) {
  child.on('exit', (code, signal) => {
    status ||= code ?? 128 + (constants.signals[signal] ?? 0);
    stop('SIGTERM');
    if (running().length === 0) process.exit(status);
  });
}
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => stop(sig));
