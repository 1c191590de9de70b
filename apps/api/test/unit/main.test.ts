/** The entry point as a process: refuses a bad configuration naming the field, stops cleanly on SIGTERM. */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { deletePrefix, REDIS_URL, TOKENS } from './harness.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const dir = mkdtempSync(join(tmpdir(), 'api-main-'));
const prefix = `{t-${randomBytes(6).toString('hex')}}`;
afterAll(async () => {
  const redis = new Redis(REDIS_URL);
  await deletePrefix(redis, prefix);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

function run(config: unknown) {
  const path = join(dir, `${randomBytes(4).toString('hex')}.json`);
  writeFileSync(path, JSON.stringify(config));
  const env = { ...process.env, PROVISIONER_CONFIG: path, PORT: '', REDIS_URL: '', API_TOKEN: '', LOG_LEVEL: '' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/api/src/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, output: () => out };
}

async function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => r(port));
    });
  });
}

const FP = `SHA256:${'A'.repeat(43)}`;
const goodConfig = (port: number) => ({
  port,
  redis_url: REDIS_URL,
  queue_prefix: prefix,
  user_data_key: randomBytes(32).toString('base64'),
  tokens: [{ name: 'admin', token: TOKENS.admin, scopes: ['admin'] }],
  images: { img: { url: 'https://example.org/img.qcow2' } },
  regions: [
    {
      region_name: 'r1',
      hosts: [{ name: 'h1', address: '127.0.0.1', private_key_path: '/nonexistent', host_key_fingerprint: FP }],
      available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 64, storage_mb: 256 }],
    },
  ],
});

describe('main.ts', () => {
  it('refuses to start on an invalid configuration and names the field', async () => {
    const p = run({ ...goodConfig(0), user_data_key: 'short' });
    expect(await p.exited).toBe(1);
    expect(p.output()).toMatch(/user_data_key/);
  }, 20_000);

  it('serves, then stops on SIGTERM with exit code 0', async () => {
    const port = await freePort();
    const p = run(goodConfig(port));
    const end = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < end && status !== 200) {
      status = await fetch(`http://127.0.0.1:${port}/ready`).then(
        (r) => r.status,
        () => 0,
      );
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    // An open event stream does not hold the shutdown up.
    const created = await fetch(`http://127.0.0.1:${port}/v1/vms`, {
      method: 'POST',
      headers: { authorization: TOKENS.admin, 'content-type': 'application/json' },
      body: JSON.stringify({ vm_name: 'main-vm', region_name: 'r1', instance_type: 'tiny', image: 'img' }),
    });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    const stream = await fetch(`http://127.0.0.1:${port}/v1/jobs/${id}/events`, { headers: { authorization: TOKENS.admin } });
    expect(stream.status).toBe(200);
    const body = stream.text();
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await body).toContain('event: snapshot');
    expect(p.output()).toContain('"msg":"stopped"');
  }, 30_000);
});
