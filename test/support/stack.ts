/**
 * Starts the real service for end-to-end tests: an API process and worker processes, against the
 * machine's Redis under a queue prefix of their own, and the loopback hypervisor host.
 * Cleans up every key under that prefix (never anything else) when stopped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanKeys } from '@provisioner/store/testing';
import { Redis } from 'ioredis';
import type { LoopbackHost } from './host.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface StackOptions {
  host: LoopbackHost;
  images: Record<string, { url: string; sha256?: string }>;
  workers?: number;
  maxConcurrent?: number;
  /** Instance types of region r1 beyond `tiny` and `small`. */
  instanceTypes?: Array<{ instance_type: string; vcpus: number; memory_mb: number; storage_mb: number }>;
  /** Extra top-level config fields (e.g. shorter legacy waits). */
  extra?: Record<string, unknown>;
  /**
   * Configure the processes the way the container is: by these environment variables (PORT is the
   * stack's), with a minimal PROVISIONER_CONFIG holding only the queue prefix, `images`, a free worker
   * port and `configFile`. Without it, the processes get the full test configuration file.
   */
  env?: Record<string, string>;
  configFile?: Record<string, unknown>;
  /** Run API and worker under the container's entry point (scripts/start.mjs, ROLE=all); `api` is then that process. */
  supervisor?: boolean;
  /** Extra fields of the admin token's config (e.g. a webhook_secret). */
  adminToken?: Record<string, unknown>;
  /** More tokens after admin, reader and writer (e.g. an owner-bound one: `{ name, token, scopes, owner }`). */
  moreTokens?: Array<Record<string, unknown>>;
  /** Extra fields of region r1's config (e.g. max_snapshots_per_vm). */
  region?: Record<string, unknown>;
  /** Extra fields of host h1's config (e.g. reserved_vcpus, max_vms). */
  h1?: Record<string, unknown>;
  /** More hosts of region r1 after h1 (see hostConfig; e.g. a sessionHost from host.ts). */
  extraHosts?: Array<Record<string, unknown>>;
  /** API processes (default 1); `fetch` picks one with `init.api`. */
  apis?: number;
  /**
   * Another Redis than the machine's: `config` goes into the processes' configuration (`redis_url` and/or
   * `redis: { sentinels | cluster }`), `client` is the stack's own client for the test (closed at stop).
   */
  redis?: { config: Record<string, unknown>; client: () => Redis };
  /** Another release's checkout (with its own node_modules): its API and worker run from there, under tsx. */
  release?: string;
  /** The queue prefix and tokens of a stack that ran before on the same Redis (an upgrade): its data is read back. */
  reuse?: { prefix: string; tokens: Stack['tokens'] };
  /** Leave the prefix's keys in Redis at stop (another stack goes on with them); the last one deletes them. */
  keepKeys?: boolean;
}

/** A host entry of the test configuration for a loopback host. */
export function hostConfig(name: string, h: LoopbackHost, maxConcurrent = 4, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    address: h.address,
    port: h.port,
    user: h.user,
    private_key_path: h.private_key_path,
    host_key_fingerprint: h.host_key_fingerprint,
    network: 'none',
    max_concurrent_operations: maxConcurrent,
    images_dir: h.images_dir,
    disks_dir: h.disks_dir,
    ...(h.libvirt_uri !== 'qemu:///system' ? { libvirt_uri: h.libvirt_uri } : {}),
    ...extra,
  };
}

/** Variables of the env-file deployment, blanked in the processes unless a test gives them. */
const ENV_FILE_VARS = [
  'SSH_HOST',
  'SSH_PORT',
  'SSH_USER',
  'SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED',
  'SSH_HOST_KEY_FINGERPRINT',
  'BAREMETAL_SERVER_CONFIGS',
  'USER_DATA_KEY',
  'PROVISIONER_USER_DATA_KEY',
  'WORKER_PORT',
  'IMAGES',
  'ROLE',
];

export interface Stack {
  url: string;
  /** Every API process's base URL (url is the first). */
  urls: string[];
  apis: ChildProcess[];
  prefix: string;
  tokens: { admin: string; read: string; write: string };
  redis: Redis;
  configPath: string;
  workers: ChildProcess[];
  api: ChildProcess;
  logs: string[];
  /** Starts one more worker; `env` over the stack's (e.g. another REDIS_URL: a worker behind a proxy). */
  startWorker(env?: Record<string, string>): Promise<ChildProcess>;
  fetch(path: string, init?: RequestInit & { token?: string | null; api?: number }): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * A port free now, for a server a test starts later. Chosen at random below the kernel's ephemeral range
 * (32768–60999 here): a port `listen(0)` handed out could be taken, before the server binds it, by any
 * outgoing connection of the run (SSH, Redis, HTTP), and a test then talked to whatever took it.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((r) => {
      const s = createServer();
      s.once('error', () => r(false));
      s.listen(port, '127.0.0.1', () => s.close(() => r(true)));
    });
    if (free) return port;
  }
}

export function testConfig(o: StackOptions, prefix: string, port: number, tokens: Stack['tokens']) {
  return {
    port,
    redis_url: 'redis://127.0.0.1:6379',
    queue_prefix: prefix,
    log_level: 'info',
    user_data_key: randomBytes(32).toString('base64'),
    legacy_create_wait_ms: 120_000,
    legacy_wait_ms: 60_000,
    tokens: [
      { name: 'admin', token: tokens.admin, scopes: ['admin'], ...o.adminToken },
      { name: 'reader', token: tokens.read, scopes: ['read'] },
      { name: 'writer', token: tokens.write, scopes: ['read', 'write'] },
      ...(o.moreTokens ?? []),
    ],
    images: o.images,
    regions: [
      {
        region_name: 'r1',
        available_instance_types: [
          { instance_type: 'tiny', vcpus: 1, memory_mb: 64, storage_mb: 256 },
          { instance_type: 'small', vcpus: 1, memory_mb: 128, storage_mb: 512 },
          ...(o.instanceTypes ?? []),
        ],
        hosts: [hostConfig('h1', o.host, o.maxConcurrent ?? 4, o.h1), ...(o.extraHosts ?? [])],
        ...o.region,
      },
    ],
    worker: {
      port: 0,
      // Tests reach workers on loopback only; the default (every interface) is for containers.
      bind_address: '127.0.0.1',
      attempts: 3,
      backoff_ms: 300,
      stop_timeout_ms: 2000,
      inventory_refresh_ms: 60_000,
      lock_duration_ms: 10_000,
      stalled_interval_ms: 5_000,
    },
    // Off unless a test turns it on: it would download every catalog image at start.
    image_cache: { interval_ms: 0 },
    // The loopback host is shared by every test file and the benchmarks: room for all their VMs (and for
    // instance types meant to fail on the host), unless a test sets its own ratios.
    placement: { cpu_allocation_ratio: 1000, memory_allocation_ratio: 100 },
    ...o.redis?.config,
    ...o.extra,
  };
}

/** `PROVISIONER_TEST_TSX=1`: stacks run the TypeScript sources under tsx instead of the run's bundles. */
export const RUN_SOURCES = process.env.PROVISIONER_TEST_TSX === '1';

/**
 * Starts `app`'s entry point: the bundle the integration projects' global setup builds from the sources at
 * the start of the run (`npm run build`'s, as production runs it; about a second less CPU per start than
 * tsx's loader), or the TypeScript sources under tsx with `PROVISIONER_TEST_TSX=1`.
 */
export function spawnApp(app: 'api' | 'worker', env: NodeJS.ProcessEnv, logs: string[], label: string, release?: string): ChildProcess {
  // Another release has no bundles of this run: its sources run under its own tsx.
  const tsx = release !== undefined || RUN_SOURCES;
  const args = tsx ? ['--import', 'tsx', `apps/${app}/src/main.ts`] : ['--enable-source-maps', `apps/${app}/dist/main.js`];
  return spawnNode(args, env, logs, label, release);
}

/** The container entry point's (scripts/start.mjs) environment as the image sets it: it runs the bundles the global setup built. */
export function entryPointEnv(): Record<string, string> {
  return RUN_SOURCES ? {} : { NODE_ENV: 'production' };
}

/** Runs `node ARGS` in the repository root (or `cwd`) with `env` over this process's, its output lines kept in `logs`. */
export function spawnNode(args: string[], env: NodeJS.ProcessEnv, logs: string[], label: string, cwd = root): ChildProcess {
  const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line) logs.push(`[${label}] ${line}`);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

/**
 * Waits for a process of the stack to be up. Generous (2 min): on a loaded machine (several files of the run
 * at once, other runs beside) starting node with tsx can take tens of seconds; it is no check on speed.
 */
async function waitHttp(url: string, proc: ChildProcess, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // A process that ended (a port taken meanwhile, a refusal to start) is not up, whatever answers there.
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the process for ${url} exited (${proc.exitCode ?? proc.signalCode})`);
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

/** Waits for a line after `from` that holds `needle` (of process `label` only, when given: `[label] …`). */
async function waitLog(logs: string[], needle: string, from: number, label?: string, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  const mine = (l: string) => label === undefined || l.startsWith(`[${label}] `);
  while (Date.now() < end) {
    if (logs.slice(from).some((l) => mine(l) && l.includes(needle))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`"${needle}" not logged within ${ms} ms:\n${logs.slice(-30).join('\n')}`);
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const prefix = o.reuse?.prefix ?? `{t${randomBytes(4).toString('hex')}}`;
  const port = await freePort();
  const tokens = o.reuse
    ? { ...o.reuse.tokens }
    : { admin: randomBytes(18).toString('base64url'), read: randomBytes(18).toString('base64url'), write: randomBytes(18).toString('base64url') };
  const dir = mkdtempSync(join(tmpdir(), 'prov-stack-'));
  const configPath = join(dir, 'config.json');
  const fileConfig = o.env
    ? {
        queue_prefix: prefix,
        images: o.images,
        worker: { port: 0 },
        image_cache: { interval_ms: 0 },
        placement: { cpu_allocation_ratio: 1000, memory_allocation_ratio: 100 },
        ...o.configFile,
      }
    : testConfig(o, prefix, port, tokens);
  writeFileSync(configPath, JSON.stringify(fileConfig), { mode: 0o600 });
  const blank = Object.fromEntries(ENV_FILE_VARS.map((k) => [k, '']));
  const env = o.env
    ? { ...blank, PROVISIONER_CONFIG: configPath, REDIS_URL: '', API_TOKEN: '', LOG_LEVEL: '', ...o.env, PORT: String(port) }
    : { ...blank, PROVISIONER_CONFIG: configPath, PORT: '', REDIS_URL: '', API_TOKEN: '', LOG_LEVEL: '' };
  if (o.env?.API_TOKEN) tokens.admin = o.env.API_TOKEN;
  const logs: string[] = [];
  const redis = o.redis ? o.redis.client() : new Redis('redis://127.0.0.1:6379');
  const workers: ChildProcess[] = [];
  const startWorker = async (over: Record<string, string> = {}) => {
    const from = logs.length;
    const label = `worker${workers.length}`;
    const w = spawnApp('worker', { ...env, ...over }, logs, label, o.release);
    workers.push(w);
    await waitLog(logs, 'worker ready', from, label);
    return w;
  };
  let api: ChildProcess | undefined;
  const apis: ChildProcess[] = [];
  const urls = [`http://127.0.0.1:${port}`];
  try {
    if (o.supervisor) {
      api = spawnNode(['scripts/start.mjs'], { ...env, ROLE: 'all', ...entryPointEnv() }, logs, 'all');
      await waitLog(logs, 'worker ready', 0);
    } else {
      // The API and the workers start side by side; the workers' readiness is awaited with the API's.
      const ready = Promise.all(Array.from({ length: o.workers ?? 1 }, () => startWorker()));
      api = spawnApp('api', env, logs, 'api', o.release);
      // More API processes: the same configuration on ports of their own.
      for (let i = 1; i < (o.apis ?? 1); i++) {
        const p = await freePort();
        apis.push(spawnApp('api', { ...env, PORT: String(p) }, logs, `api${i}`, o.release));
        urls.push(`http://127.0.0.1:${p}`);
      }
      await ready;
    }
    for (const [i, u] of urls.entries()) await waitHttp(`${u}/health`, (i === 0 ? api : apis[i - 1]) as ChildProcess);
  } catch (e) {
    // A stack that did not come up is nobody's to stop: end what it started (they outlived the test runs).
    for (const c of [api, ...apis, ...workers]) if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (!o.keepKeys) await deletePrefix(redis, prefix).catch(() => undefined);
    await redis.quit().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  if (!api) throw new Error('no API process was started');
  apis.unshift(api);
  const url = urls[0] as string;

  return {
    url,
    urls,
    apis,
    prefix,
    tokens,
    redis,
    configPath,
    workers,
    api,
    logs,
    startWorker,
    fetch: (path, init = {}) => {
      const { token = tokens.admin, api: which = 0, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token !== null && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
      if (rest.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
      return fetch(`${urls[which % urls.length]}${path}`, { ...rest, headers });
    },
    stop: async () => {
      const all = [...apis, ...workers].filter((c) => c.exitCode === null && c.signalCode === null);
      await Promise.all(
        all.map(
          (c) =>
            new Promise<void>((r) => {
              c.once('exit', () => r());
              c.kill('SIGTERM');
              setTimeout(() => c.kill('SIGKILL'), 15_000).unref();
            }),
        ),
      );
      if (!o.keepKeys) await deletePrefix(redis, prefix);
      await redis.quit();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Deletes the keys of one test's prefix, and nothing else. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  // One DEL per 500 keys: they share the prefix's hash tag, so in a cluster they are in one slot.
  const found = await scanKeys(redis, `${prefix}:*`);
  for (let i = 0; i < found.length; i += 500) await redis.del(...found.slice(i, i + 500));
}

/** Polls a job until it ends; returns its final view. */
export async function waitJob(stack: Stack, id: string, ms = 120_000): Promise<Record<string, unknown>> {
  const end = Date.now() + ms;
  let socketErrors = 0;
  while (Date.now() < end) {
    // A kept-alive connection the server closes as a poll goes out fails that poll ("other side closed"):
    // poll again on a new one; three in a row is the API gone, and fails.
    const r = await stack.fetch(`/v1/jobs/${id}`).catch((e: unknown) => {
      if (++socketErrors >= 3) throw e;
      return null;
    });
    if (!r) {
      await new Promise((res) => setTimeout(res, 200));
      continue;
    }
    socketErrors = 0;
    const job = (await r.json()) as Record<string, unknown>;
    if (['succeeded', 'failed', 'canceled'].includes(String(job.state))) return job;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`job ${id} did not finish within ${ms} ms\n${stack.logs.slice(-40).join('\n')}`);
}

/**
 * What a job did on the host: from its first step's start to its last step's end. (A job's own
 * started_at is when a worker picked it up, which may come a moment before its turn check lets it run.)
 */
export function workSpan(view: Record<string, unknown>): readonly [number, number] {
  const steps = (view.steps ?? []) as Array<{ started_at: string | null; finished_at: string | null }>;
  const starts = steps.map((s) => Date.parse(s.started_at ?? '')).filter(Number.isFinite);
  const ends = steps.map((s) => Date.parse(s.finished_at ?? '')).filter(Number.isFinite);
  return [Math.min(...starts), Math.max(...ends)];
}
