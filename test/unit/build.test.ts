/** `npm run build`: the bundles the image runs start on plain Node (no TypeScript loader) and serve. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { SCRIPT_NAMES, SHELL_LIBS } from '../../packages/libvirt/src/scripts.ts';
import { deletePrefix, freePort } from '../support/stack.ts';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'build-'));
const prefix = `{t${randomBytes(4).toString('hex')}}`;
const procs: ChildProcess[] = [];

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  const redis = new Redis('redis://127.0.0.1:6379');
  await deletePrefix(redis, prefix);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

describe('npm run build', () => {
  it('bundles the API and the worker; the API bundle runs on plain node and serves /health, /docs and the VM page’s assets', async () => {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' });
    const port = await freePort();
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        port,
        queue_prefix: prefix,
        user_data_key: randomBytes(32).toString('base64'),
        tokens: [{ name: 'admin', token: randomBytes(18).toString('base64url'), scopes: ['admin'] }],
        regions: [
          {
            region_name: 'r1',
            hosts: [{ name: 'h1', address: '127.0.0.1', private_key_path: '/nonexistent', host_key_fingerprint: `SHA256:${'A'.repeat(43)}` }],
            available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 64, storage_mb: 256 }],
          },
        ],
      }),
    );
    // No --import tsx: a bundle that still needed TypeScript would fail to start.
    const api = spawn(process.execPath, ['apps/api/dist/main.js'], {
      cwd: root,
      env: { ...process.env, PROVISIONER_CONFIG: config, PORT: '', API_TOKEN: '' },
      stdio: 'ignore',
    });
    procs.push(api);
    let status = 0;
    for (let i = 0; i < 150 && status !== 200; i++) {
      status = await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/docs`)).status).toBe(200);
    // The VM page's script and stylesheet, copied beside the bundle.
    for (const [file, type] of [
      ['app.js', 'text/javascript'],
      ['app.css', 'text/css'],
    ]) {
      const asset = await fetch(`http://127.0.0.1:${port}/ui/assets/${file}`);
      expect(asset.status, file).toBe(200);
      expect(asset.headers.get('content-type'), file).toContain(type);
    }
    execFileSync(process.execPath, ['--check', 'apps/worker/dist/main.js'], { cwd: root });
    // The host scripts the worker reads when it loads (packages/libvirt/src/scripts.ts), beside its bundle.
    for (const f of [...SCRIPT_NAMES.map((n) => `${n}.sh`), ...SHELL_LIBS]) {
      expect(readFileSync(join(root, 'apps/worker/dist/sh', f), 'utf8'), f).toBe(readFileSync(join(root, 'packages/libvirt/src/sh', f), 'utf8'));
    }
  }, 60_000);
});

/** Every source file a bundle of `entry` reads, npm packages included (only native addons left out). */
async function bundledInputs(entry: string): Promise<string[]> {
  const r = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: ['*.node'],
  });
  return Object.keys(r.metafile.inputs);
}

describe('what the API pulls in', () => {
  it('never ssh2 nor the libvirt library: the API opens no SSH connection (contracts holds the name rules both use)', async () => {
    const api = await bundledInputs('apps/api/src/main.ts');
    expect(api.some((p) => p.startsWith('packages/contracts/'))).toBe(true);
    expect(api.filter((p) => /(^|\/)node_modules\/ssh2\/|^packages\/libvirt\//.test(p))).toEqual([]);
    // The same look finds them where they belong, so the check above can fail.
    const worker = await bundledInputs('apps/worker/src/main.ts');
    expect(worker.some((p) => p.includes('node_modules/ssh2/'))).toBe(true);
    expect(worker.some((p) => p.startsWith('packages/libvirt/'))).toBe(true);
  }, 60_000);

  it('contracts is schemas and types: of npm packages it reads only zod, yaml and ipaddr.js (no Redis client, no BullMQ, no SSH)', async () => {
    const inputs = await bundledInputs('packages/contracts/src/index.ts');
    const packages = new Set(inputs.flatMap((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p)?.[1] ?? []));
    // ipaddr.js: the one classification of addresses a webhook may reach, shared by API and worker (egress.ts).
    expect([...packages].sort()).toEqual(['ipaddr.js', 'yaml', 'zod']);
    expect(inputs.filter((p) => p.startsWith('packages/') && !p.startsWith('packages/contracts/'))).toEqual([]);
  }, 60_000);
});
