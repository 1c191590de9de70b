/**
 * scripts/run-local.sh's configuration lets a webhook be tried on one machine: the generated config
 * allows loopback deliveries (refused by default) and gives the admin token a webhook secret, the
 * receiver run-local starts answers them, and run-local prints the line that exports the token.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EgressGuard } from '../../apps/worker/src/ssrf.ts';
import { postWebhook } from '../../apps/worker/src/webhooks.ts';
import { loadConfig } from '../../packages/contracts/src/config/load.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(join(tmpdir(), 'local-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const node = (...args: string[]) => {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
};

// What install-server.sh --local writes about the loopback host.
const hostJson = join(dir, 'host.json');
writeFileSync(
  hostJson,
  JSON.stringify({
    address: '127.0.0.1',
    port: 2222,
    user: 'provisioner',
    host_key_fingerprint: `SHA256:${'A'.repeat(43)}`,
    private_key_path: '/var/lib/provisioner-local/id_ed25519',
    images_dir: '/var/lib/provisioner/images',
    disks_dir: '/var/lib/provisioner/disks',
  }),
);
const configPath = join(dir, 'config.yaml');
writeFileSync(configPath, node('scripts/local-config.mjs', hostJson));
const config = loadConfig({ PROVISIONER_CONFIG: configPath });

const freePort = () =>
  new Promise<number>((r) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => r(port));
    });
  });

describe('local configuration (scripts/local-config.mjs)', () => {
  it('allows loopback webhook deliveries, which the default policy refuses, and nothing else private', () => {
    const local = new EgressGuard(config.webhooks);
    expect(local.refusal('127.0.0.1')).toBeNull();
    expect(local.refusal('::1')).toBeNull();
    expect(local.refusal('10.0.0.1')).toMatch(/private/);
    expect(local.refusal('169.254.169.254')).toMatch(/metadata/);
    expect(new EgressGuard({ allow_networks: [], allow_hosts: [] }).refusal('127.0.0.1')).toMatch(/loopback/);
    expect(readFileSync(configPath, 'utf8')).toMatch(/# Deliveries to loopback are refused by default/);
    expect(config.tokens[0]?.webhook_secret).toMatch(/^whsec_/);
  });

  it('a delivery reaches the receiver run-local starts on 127.0.0.1', async () => {
    const port = await freePort();
    const receiver = spawn(process.execPath, ['scripts/webhook-receiver.mjs', String(port)], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let printed = '';
    receiver.stderr.on('data', (d: Buffer) => (printed += d));
    try {
      const body = JSON.stringify({
        type: 'job.succeeded',
        data: { id: 'job_1', kind: 'create', state: 'succeeded', target: { region: 'local', vm_name: 'vm-1' } },
      });
      const send = (guard: EgressGuard) =>
        postWebhook({ url: `http://127.0.0.1:${port}/hook`, headers: { 'webhook-id': 'msg_1' }, body, timeoutMs: 2000, guard });
      expect(await send(new EgressGuard({ allow_networks: [], allow_hosts: [] }))).toMatchObject({ refused: true });
      let res = await send(new EgressGuard(config.webhooks));
      for (let i = 0; i < 50 && res.error?.includes('ECONNREFUSED'); i++) {
        await new Promise((r) => setTimeout(r, 100)); // the receiver is still starting
        res = await send(new EgressGuard(config.webhooks));
      }
      expect(res).toMatchObject({ status: 204, error: null, refused: false });
      expect(printed).toContain('webhook: POST /hook job.succeeded create local/vm-1 job job_1 succeeded (webhook-id msg_1)');
    } finally {
      receiver.kill();
    }
  });

  it('run-local prints the line that exports the token, and starts the receiver the hint names', () => {
    const hint = node('scripts/local-config.mjs', 'hint', configPath);
    const token = config.tokens[0]?.token ?? '';
    expect(token.length).toBeGreaterThanOrEqual(16);
    expect(hint).toContain(`\n  export TOKEN=${token} PROVISIONER_URL=http://127.0.0.1:8080 PROVISIONER_TOKEN=${token} PROVISIONER_REGION=local\n`);
    expect(hint).toContain('http://127.0.0.1:8091/');
    expect(hint).toContain('VM page: http://127.0.0.1:8080/ui');
    expect(hint).not.toContain('predates');
    const script = readFileSync(join(root, 'scripts/run-local.sh'), 'utf8');
    expect(script).toMatch(/^node scripts\/local-config\.mjs hint \.local\/config\.yaml >&2$/m);
    expect(script).toMatch(/^node scripts\/webhook-receiver\.mjs 8091 & pids\+=\(\$!\)$/m);
    expect(script).toMatch(/node scripts\/local-config\.mjs > \.local\/config\.yaml/);
    // A config written before loopback was allowed is named, so it can be written again.
    const old = join(dir, 'old.yaml');
    writeFileSync(old, readFileSync(configPath, 'utf8').replace(/^webhooks:\n.*\n/m, ''));
    expect(node('scripts/local-config.mjs', 'hint', old)).toContain('predates local webhooks');
  });
});
