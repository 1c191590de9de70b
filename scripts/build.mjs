// Bundles the API and the worker into apps/<app>/dist/main.js (our TypeScript, npm packages left
// external), so production runs plain Node: no TypeScript loader, about 30 MiB less resident memory.
// `npm run build`; scripts/start.mjs runs the bundles when they exist. The integration tests' global setup
// builds them too (test/setup/loopback-host.ts) and their stacks run them.
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Every npm dependency of the bundled workspaces stays external (resolved from node_modules at run time). */
function externals() {
  const external = new Set();
  for (const p of [
    'package.json',
    'apps/api/package.json',
    'apps/worker/package.json',
    'packages/contracts/package.json',
    'packages/libvirt/package.json',
    'packages/store/package.json',
  ]) {
    const j = JSON.parse(readFileSync(join(root, p), 'utf8'));
    for (const d of Object.keys({ ...j.dependencies, ...j.devDependencies })) if (!d.startsWith('@provisioner/')) external.add(d);
  }
  return [...external];
}

/** Writes `data` to `path` by a rename: a process starting meanwhile reads a whole old or a whole new file. */
function writeAtomic(path, data) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Copies every file under `from` to the same place under `to`, each written atomically. */
function copyTree(from, to) {
  for (const e of readdirSync(from, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) writeAtomic(join(to, relative(from, join(e.parentPath, e.name))), readFileSync(join(e.parentPath, e.name)));
  }
}

/** Builds the bundles and copies what they read at run time beside them. */
export async function buildBundles() {
  const out = await build({
    absWorkingDir: root,
    entryPoints: { 'apps/api/dist/main': 'apps/api/src/main.ts', 'apps/worker/dist/main': 'apps/worker/src/main.ts' },
    outdir: root,
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: externals(),
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  for (const f of out.outputFiles) writeAtomic(f.path, f.contents);
  for (const app of ['api', 'worker']) {
    // The store's Lua scripts are read at run time from `./lua/` beside the module that loads them: in a
    // bundle, beside main.js.
    copyTree(join(root, 'packages/store/src/lua'), join(root, `apps/${app}/dist/lua`));
  }
  // So are the libvirt package's host scripts, from `./sh/` (only the worker runs them).
  copyTree(join(root, 'packages/libvirt/src/sh'), join(root, 'apps/worker/dist/sh'));
  // The VM page's script and stylesheet (src/ui/assets) are read at start from `./assets/` beside the module
  // that serves them: in the bundle, beside main.js.
  copyTree(join(root, 'apps/api/src/ui/assets'), join(root, 'apps/api/dist/assets'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildBundles();
