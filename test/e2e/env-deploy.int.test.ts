/**
 * The replaced service's deployment path: `docker run --env-file provisioner/secrets IMAGE` runs API and
 * worker in one container, configured by API_TOKEN, SSH_HOST, SSH_PORT, SSH_USER,
 * SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED, SSH_HOST_KEY_FINGERPRINT, REDIS_URL and BAREMETAL_SERVER_CONFIGS,
 * with the image catalog in IMAGES. Here the container's entry point (scripts/start.mjs, ROLE=all) runs
 * against the loopback host, with a config file that holds only what isolates the test (queue prefix,
 * worker port, shorter waits).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { deletePrefix, entryPointEnv, freePort, type Stack, spawnNode, startStack } from '../support/stack.ts';

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
const pem = readFileSync(host.private_key_path, 'utf8');
const keyBase64 = Buffer.from(pem).toString('base64');
const token = randomBytes(24).toString('base64url');
const types = [{ instance_type: 'tiny', vcpus: 1, memory_mb: 64, storage_mb: 256 }];
const made: string[] = [];
let images: ImageServer;
let imageName: string;

/** The secrets file of the replaced service's deployment, plus its region list. */
function secrets(over: Record<string, string> = {}): Record<string, string> {
  return {
    API_TOKEN: token,
    SSH_HOST: host.address,
    SSH_PORT: String(host.port),
    SSH_USER: host.user,
    SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED: keyBase64,
    SSH_HOST_KEY_FINGERPRINT: host.host_key_fingerprint,
    REDIS_URL: 'redis://127.0.0.1:6379',
    BAREMETAL_SERVER_CONFIGS: JSON.stringify([
      { user: 'root', host: host.address, port: 22, region_name: 'env1', enabled: true, available_instance_types: types },
    ]),
    ...over,
  };
}

const testFile = () => ({
  legacy_create_wait_ms: 120_000,
  legacy_wait_ms: 60_000,
  worker: { port: 0, attempts: 2, backoff_ms: 300, stop_timeout_ms: 2000, lock_duration_ms: 10_000, stalled_interval_ms: 5_000 },
});

/** The key must never reach output: neither its base64 form nor any line of the PEM text. */
function expectNoKey(text: string): void {
  expect(text).not.toContain(keyBase64.slice(0, 48));
  expect(text).not.toContain(keyBase64.slice(-48));
  for (const line of pem.split('\n').filter((l) => l.length >= 20 && !l.startsWith('-----'))) expect(text).not.toContain(line);
}

/** Runs the container's entry point until it exits by itself; its exit code and output. */
async function runToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'env-deploy-'));
  const prefix = `{t${randomBytes(4).toString('hex')}}`;
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ ...testFile(), queue_prefix: prefix }), { mode: 0o600 });
  const logs: string[] = [];
  const child = spawnNode(
    ['scripts/start.mjs'],
    { ROLE: 'all', PROVISIONER_CONFIG: config, PORT: String(await freePort()), ...entryPointEnv(), ...env },
    logs,
    'all',
  );
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const redis = new Redis('redis://127.0.0.1:6379');
  await deletePrefix(redis, prefix);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
  return { code, output: logs.join('\n') };
}

/** Every string stored under the stack's prefix (job data, results, inventory), to look for the key in. */
async function storedText(stack: Stack): Promise<string> {
  const out: string[] = [];
  const keys = await stack.redis.keys(`${stack.prefix}:*`);
  for (const k of keys) {
    const type = await stack.redis.type(k);
    if (type === 'string') out.push((await stack.redis.get(k)) ?? '');
    if (type === 'hash') out.push(...Object.values(await stack.redis.hgetall(k)));
    if (type === 'list') out.push(...(await stack.redis.lrange(k, 0, -1)));
  }
  return out.join('\n');
}

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 64 }]));
  imageName = uniqueName('envimg');
});

afterAll(async () => {
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await images?.close();
  await hv.close();
});

describe('configured only by the env file, API and worker in one container process tree', () => {
  it('drives create → list → stop → start → delete through the legacy routes, never showing the key, and stops on SIGTERM', async () => {
    const stack = await startStack({
      host,
      // No catalog in any file: IMAGES declares it.
      images: {},
      env: secrets({ IMAGES: `${imageName}=${images.url('tiny.qcow2')}` }),
      configFile: testFile(),
      supervisor: true,
    });
    try {
      const name = uniqueName('envvm');
      made.push(name);
      const raw = { authorization: token };
      const post = (path: string, body: unknown, method = 'POST') =>
        fetch(`${stack.url}${path}`, { method, headers: { ...raw, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const list = async () => (await (await fetch(`${stack.url}/v1/list`, { headers: raw })).json()) as Array<Record<string, unknown>>;

      expect(await (await fetch(`${stack.url}/v1/get-images`)).json()).toEqual({ images: [imageName] });
      const regions = (await (await fetch(`${stack.url}/v1/regions`, { headers: raw })).json()) as Array<Record<string, unknown>>;
      expect(regions).toEqual([{ region_name: 'env1', enabled: true, available_instance_types: types }]);

      // User-data is sealed by the API and opened by the worker with the key both derive from the SSH key.
      const created = await post('/v1/create', {
        vm_name: name,
        tags: { owner: 'U1', description: 'env deploy' },
        user_data: Buffer.from('#cloud-config\n{}\n').toString('base64'),
        image: imageName,
        region_name: 'env1',
        instance_type: 'tiny',
      });
      expect(await created.json()).toEqual({ message: 'Success' });
      expect((await list()).find((v) => v.name === name)).toMatchObject({
        region_name: 'env1',
        state: 'running',
        tags: { owner: 'U1', description: 'env deploy' },
      });
      expect(await hv.domainState(name)).toBe('running');

      expect((await post('/v1/stop', { vm_name: name, region_name: 'env1' })).status).toBe(200);
      expect((await list()).find((v) => v.name === name)).toMatchObject({ state: 'shut off', dom_id: '-' });
      expect((await post('/v1/start', { vm_name: name, region_name: 'env1' })).status).toBe(200);
      expect((await list()).find((v) => v.name === name)).toMatchObject({ state: 'running' });
      expect(await (await post('/v1/delete', { vm_name: name, region_name: 'env1' }, 'DELETE')).json()).toEqual({ message: 'Success' });
      expect((await list()).some((v) => v.name === name)).toBe(false);

      // The image's HEALTHCHECK answers for both processes while they run.
      const workerPort = /"port":(\d+),"queues"/.exec(stack.logs.find((l) => l.includes('worker ready')) ?? '')?.[1] ?? '';
      const health = { ...process.env, ROLE: 'all', PORT: new URL(stack.url).port, WORKER_PORT: workerPort };
      await expect(promisify(execFile)(process.execPath, ['scripts/healthcheck.mjs'], { env: health })).resolves.toBeDefined();
      await expect(
        promisify(execFile)(process.execPath, ['scripts/healthcheck.mjs'], { env: { ...health, WORKER_PORT: String(await freePort()) } }),
      ).rejects.toThrow(/unhealthy/);

      expectNoKey(await storedText(stack));
    } finally {
      await stack.stop();
    }
    // SIGTERM reached both processes through the entry point, which exited cleanly after them.
    expect(stack.api.exitCode).toBe(0);
    expect(stack.logs.filter((l) => l.includes('"msg":"stopped"'))).toHaveLength(2);
    expectNoKey(stack.logs.join('\n'));
  });

  it('starts when the host is merely down (a warning; its jobs wait), and says so', async () => {
    const stack = await startStack({ host, images: {}, env: secrets({ SSH_PORT: String(await freePort()) }), configFile: testFile(), supervisor: true });
    try {
      expect((await fetch(`${stack.url}/health`)).status).toBe(200);
      expect(stack.logs.some((l) => l.includes('host not reachable at startup'))).toBe(true);
    } finally {
      await stack.stop();
    }
    expectNoKey(stack.logs.join('\n'));
  });
});

describe('refusal to start', () => {
  it.each([
    ['missing', ''],
    ['malformed', 'SHA256:short'],
  ])('refuses when SSH_HOST_KEY_FINGERPRINT is %s, naming the commands that print it', async (_label, value) => {
    const { code, output } = await runToExit(secrets({ SSH_HOST_KEY_FINGERPRINT: value }));
    expect(code).toBe(1);
    expect(output).toContain('SSH_HOST_KEY_FINGERPRINT is not');
    expect(output).toContain('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub');
    expect(output).toContain(`ssh-keyscan -t ed25519 -p ${host.port} ${host.address} | ssh-keygen -lf -`);
    expect(output).not.toContain('ready');
    expectNoKey(output);
  });

  it('refuses a wrong fingerprint after checking the host once, naming the key it presented and the commands', async () => {
    const wrong = `SHA256:${Buffer.alloc(32, 1).toString('base64').replace(/=+$/, '')}`;
    const { code, output } = await runToExit(secrets({ SSH_HOST_KEY_FINGERPRINT: wrong }));
    expect(code).toBe(1);
    expect(output).toContain(
      `refusing to start: env1/host-1 (${host.user}@${host.address}:${host.port}): host key of env1/host-1 does not match the pinned fingerprint`,
    );
    expect(output).toContain(`got ${host.host_key_fingerprint}`);
    expect(output).toContain('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub');
    expect(output).not.toContain('worker ready');
    expectNoKey(output);
  });
});
