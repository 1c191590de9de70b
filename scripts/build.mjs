// Bundles the API and the worker into apps/<app>/dist/main.js (our TypeScript, npm packages left
// external), so production runs plain Node: no TypeScript loader, about 30 MiB less resident memory.
// `npm run build`; scripts/start.mjs runs the bundles when they exist.
import { cpSync, readFileSync } from 'node:fs';
import { build } from 'esbuild';

const external = new Set();
for (const p of [
  'package.json',
  'apps/api/package.json',
  'apps/worker/package.json',
  'packages/contracts/package.json',
  'packages/libvirt/package.json',
  'packages/store/package.json',
]) {
  const j = JSON.parse(readFileSync(new URL(`../${p}`, import.meta.url), 'utf8'));
  for (const d of Object.keys({ ...j.dependencies, ...j.devDependencies })) if (!d.startsWith('@provisioner/')) external.add(d);
}
await build({
  absWorkingDir: new URL('..', import.meta.url).pathname,
  entryPoints: { 'apps/api/dist/main': 'apps/api/src/main.ts', 'apps/worker/dist/main': 'apps/worker/src/main.ts' },
  outdir: '.',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: [...external],
  sourcemap: 'linked',
  logLevel: 'warning',
});

// The store's Lua scripts are read at run time from `./lua/` beside the module that loads them: in a bundle,
// beside main.js.
for (const app of ['api', 'worker']) {
  cpSync(new URL('../packages/store/src/lua/', import.meta.url), new URL(`../apps/${app}/dist/lua/`, import.meta.url), { recursive: true });
}
// So are the libvirt package's host scripts, from `./sh/` (only the worker runs them).
cpSync(new URL('../packages/libvirt/src/sh/', import.meta.url), new URL('../apps/worker/dist/sh/', import.meta.url), { recursive: true });

// The VM page's script and stylesheet (src/ui/assets) are read at start from `./assets/` beside the module
// that serves them: in the bundle, beside main.js.
cpSync(new URL('../apps/api/src/ui/assets/', import.meta.url), new URL('../apps/api/dist/assets/', import.meta.url), { recursive: true });
