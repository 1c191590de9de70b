/**
 * What the client pulls in: bundled for a browser (where `node:` modules do not resolve), it reads its
 * own sources only: the contracts give it types, not code, and nothing of Redis, BullMQ or SSH comes along.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

async function bundle(entry: string, platform: 'browser' | 'node') {
  const r = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    platform,
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: ['*.node'],
  });
  return { inputs: Object.keys(r.metafile.inputs), text: r.outputFiles.map((f) => f.text).join('') };
}

const SERVER_ONLY = /(^|\/)node_modules\/(ssh2|ioredis|bullmq)\//;

describe('the client bundle', () => {
  it('builds for a browser from its own sources, without ssh2, ioredis or bullmq', async () => {
    const { inputs, text } = await bundle('packages/client/src/index.ts', 'browser');
    expect(inputs.filter((p) => !p.startsWith('packages/client/src/'))).toEqual([]);
    expect(inputs.filter((p) => SERVER_ONLY.test(p))).toEqual([]);
    expect(text).not.toMatch(/ioredis|bullmq|ssh2/);
    expect(text).toContain('Idempotency-Key'.toLowerCase());
    // The same look finds them where they are: the API reads Redis through ioredis and BullMQ.
    const api = await bundle('apps/api/src/main.ts', 'node');
    expect(api.inputs.some((p) => p.includes('node_modules/ioredis/'))).toBe(true);
    expect(api.inputs.some((p) => p.includes('node_modules/bullmq/'))).toBe(true);
  }, 60_000);

  it('the shared shapes (@provisioner/contracts/api) bundle for a browser too, with zod only', async () => {
    const { inputs } = await bundle('packages/contracts/src/api.ts', 'browser');
    const packages = new Set(inputs.flatMap((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p)?.[1] ?? []));
    expect([...packages]).toEqual(['zod']);
  }, 60_000);
});
