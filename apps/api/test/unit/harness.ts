/**
 * Runs the API in-process on a random port against the machine's Redis, under a queue prefix of its
 * own (removed at the end, and nothing else). No worker: tests that need jobs to move run a small
 * BullMQ Worker of their own (`fakeWorker`).
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { serve } from '@hono/node-server';
import {
  type Config,
  ConfigSchema,
  encodeJobError,
  GUEST_UNKNOWN,
  hostQueueName,
  type InventoryEntry,
  type InventoryVm,
  type JobErrorCode,
  type ProgressData,
} from '@provisioner/contracts';
import { ConsoleStore, InventoryStore, JobQueue } from '@provisioner/store';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { deletePrefix } from '../../../../test/support/stack.ts';
import { type ApiApp, createApp } from '../../src/app.ts';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const TOKENS = {
  admin: `adm-${randomBytes(16).toString('hex')}`,
  read: `rd-${randomBytes(16).toString('hex')}`,
  write: `wr-${randomBytes(16).toString('hex')}`,
};

const FP = `SHA256:${'A'.repeat(43)}`;
const host = (name: string) => ({ name, address: '127.0.0.1', port: 22, private_key_path: '/nonexistent/key', host_key_fingerprint: FP });

export function testConfig(prefix: string, extra: Record<string, unknown> = {}): Config {
  return ConfigSchema.parse({
    port: 0,
    redis_url: REDIS_URL,
    queue_prefix: prefix,
    log_level: 'silent',
    user_data_key: randomBytes(32).toString('base64'),
    max_body_bytes: 64 * 1024,
    legacy_create_wait_ms: 1500,
    legacy_wait_ms: 1500,
    refresh_wait_ms: 400,
    tokens: [
      { name: 'admin', token: TOKENS.admin, scopes: ['admin'] },
      { name: 'reader', token: TOKENS.read, scopes: ['read'] },
      { name: 'writer', token: TOKENS.write, scopes: ['read', 'write'] },
    ],
    images: {
      'v0.76.0': { url: 'https://images.example.org/v0.76.0.qcow2', sha256: 'a'.repeat(64) },
      'debian-12': { url: 'https://user:secret@images.example.org/debian-12.qcow2' },
    },
    regions: [
      {
        region_name: 'r1',
        hosts: [host('h1'), host('h2')],
        available_instance_types: [
          { instance_type: 'tiny', vcpus: 1, memory_mb: 512, storage_mb: 4096 },
          { instance_type: 'large', vcpus: 8, memory_mb: 16384, storage_mb: 102400 },
        ],
      },
      { region_name: 'r2', hosts: [host('h1')], available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 512, storage_mb: 4096 }] },
      {
        region_name: 'off',
        enabled: false,
        hosts: [host('h1')],
        available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 512, storage_mb: 4096 }],
      },
    ],
    ...extra,
  });
}

export interface Harness {
  url: string;
  prefix: string;
  config: Config;
  redis: Redis;
  queues: JobQueue;
  app: ApiApp;
  logs: string[];
  fetch(path: string, init?: RequestInit & { token?: string | null; json?: unknown }): Promise<Response>;
  /** Sum of every job count of every host queue. */
  jobCount(): Promise<number>;
  /** Keys under the prefix (e.g. to assert no vmHost key was set). */
  prefixKeys(pattern?: string): Promise<string[]>;
  writeInventory(region: string, host: string, vms: Array<Partial<InventoryVm> & { name: string }>, extra?: Partial<InventoryEntry>): Promise<void>;
  stop(): Promise<void>;
}

export function vm(v: Partial<InventoryVm> & { name: string }): InventoryVm {
  return {
    uuid: randomBytes(16).toString('hex'),
    dom_id: null,
    state: 'shut off',
    managed: true,
    tags: {},
    ip: null,
    vcpus: 1,
    memory_mb: 512,
    image: 'v0.76.0',
    instance_type: 'tiny',
    addresses: [],
    guest: GUEST_UNKNOWN,
    snapshots: [],
    ...v,
  };
}

export { deletePrefix };

async function ready(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    redis.once('ready', resolve);
    setTimeout(() => reject(new Error('redis not ready')), 5000).unref();
  });
}

export async function startHarness(opts: { extra?: Record<string, unknown>; redisUrl?: string } = {}): Promise<Harness> {
  const prefix = `{t-${randomBytes(6).toString('hex')}}`;
  const config = testConfig(prefix, opts.extra);
  const redis = new Redis(opts.redisUrl ?? REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => undefined);
  if (!opts.redisUrl) await ready(redis);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const queues = new JobQueue(redis, config);
  const app = createApp({ config, redis, queues, logger });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    prefix,
    config,
    redis,
    queues,
    app,
    logs,
    fetch: (path, init = {}) => {
      const { token = TOKENS.admin, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token !== null && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${url}${path}`, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body });
    },
    jobCount: async () => {
      let n = 0;
      for (const { queue } of queues.all()) {
        const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'paused', 'waiting-children');
        n += Object.values(c).reduce((a, b) => a + b, 0);
      }
      return n;
    },
    prefixKeys: async (pattern = '*') => {
      const out: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:${pattern}`, 'COUNT', 1000);
        cursor = next;
        out.push(...found);
      } while (cursor !== '0');
      return out;
    },
    writeInventory: async (region, hostName, vms, extra = {}) => {
      const now = new Date().toISOString();
      const entry: InventoryEntry = { region, host: hostName, observed_at: now, attempted_at: now, error: null, vms: vms.map(vm), ...extra };
      await new InventoryStore(redis, prefix).putEntry(entry);
    },
    stop: async () => {
      await app.close();
      await new Promise<void>((r) => server.close(() => r()));
      await queues.close();
      if (redis.status === 'ready') await deletePrefix(redis, prefix);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Starts a harness for the enclosing test file (beforeAll) and stops it (afterAll). */
export function useHarness(opts: Parameters<typeof startHarness>[0] = {}): Harness {
  const ref = {} as Harness;
  beforeAll(async () => {
    Object.assign(ref, await startHarness(opts));
  });
  afterAll(async () => {
    await ref.stop?.();
  });
  return ref;
}

export type FakeStep = (job: Job) => Promise<unknown>;

/**
 * A stand-in worker for one host queue: runs `handle` for each job (default: report a step's
 * progress, then succeed). Throwing `fail(code)` fails the job with a structured error.
 */
export function fakeWorker(h: Harness, region: string, hostName: string, handle?: FakeStep): Worker {
  const connection = h.redis.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true });
  const w = new Worker(
    hostQueueName(region, hostName),
    async (job) => {
      if (handle) return handle(job);
      // A console job leaves its text where a real worker does (ConsoleStore), made up from the job.
      if (job.data.kind === 'console') {
        await new ConsoleStore(h.redis, h.prefix, h.config.user_data_key).put(String(job.id), { source: 'current', text: `console of ${job.data.vm_name}\n` });
        return { found: true };
      }
      const progress: ProgressData = {
        percent: 50,
        step: 'start',
        steps: [{ name: 'start', state: 'running', started_at: new Date().toISOString(), finished_at: null }],
      };
      await job.updateProgress(progress);
      return { ok: true };
    },
    { connection, prefix: h.prefix, concurrency: 4 },
  );
  w.on('error', () => undefined);
  w.on('closed', () => connection.disconnect());
  return w;
}

/** The error a processor throws for a job that fails for good with a structured error. */
export function fail(code: JobErrorCode, message = `failed with ${code}`): Error {
  return new UnrecoverableError(encodeJobError({ code, message, retryable: false }));
}

export const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
