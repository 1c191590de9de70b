/**
 * Real Redis Sentinel and Redis Cluster set-ups on loopback ports for tests, started from the
 * machine's redis-server (Sentinel is `redis-server --sentinel`), each in a data directory of its own
 * that `stop()` removes with its processes. The machine's Redis on 6379 is never touched.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { waitPort } from './net.ts';

export interface RedisSetup {
  /** Configuration fields for the processes (`redis: { sentinels | cluster }`). */
  config: Record<string, unknown>;
  /** A client for the test itself. */
  client(): Redis;
  /** Sentinel only: promotes the replica (SENTINEL FAILOVER) and resolves once the sentinels name it master. */
  failover?(): Promise<void>;
  stop(): Promise<void>;
}

/** A port that is free, below `max` (a cluster node also needs port + 10000 for its bus). */
async function pickPort(bus = false): Promise<number> {
  const free = (p: number) =>
    new Promise<boolean>((r) => {
      const s = createServer();
      s.once('error', () => r(false));
      s.listen(p, '127.0.0.1', () => s.close(() => r(true)));
    });
  for (;;) {
    const p = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await free(p)) && (!bus || (await free(p + 10_000)))) return p;
  }
}

async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function cli(port: number, ...args: string[]): string {
  return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
}

function server(args: string[], dir: string): ChildProcess {
  mkdirSync(dir, { recursive: true });
  return spawn('redis-server', [...args, '--dir', dir], { stdio: 'ignore' });
}

async function stopAll(children: ChildProcess[], dir: string): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 5000).unref();
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
}

const plain = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];

/** A master, one replica and one sentinel (quorum 1) monitoring the master as `mymaster`. */
export async function startSentinel(): Promise<RedisSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'prov-sentinel-'));
  const [master, replica, sentinel] = [await pickPort(), await pickPort(), await pickPort()];
  const children: ChildProcess[] = [];
  try {
    children.push(server(plain(master), join(dir, 'master')));
    await waitPort(master);
    children.push(server([...plain(replica), '--replicaof', '127.0.0.1', String(master)], join(dir, 'replica')));
    await waitPort(replica);
    // Sentinel rewrites its configuration file: it must be its own, writable.
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinel}`,
        'bind 127.0.0.1',
        `sentinel monitor mymaster 127.0.0.1 ${master} 1`,
        'sentinel down-after-milliseconds mymaster 2000',
        'sentinel failover-timeout mymaster 5000',
        '',
      ].join('\n'),
    );
    mkdirSync(join(dir, 'sentinel'));
    children.push(spawn('redis-server', [conf, '--sentinel', '--dir', join(dir, 'sentinel')], { stdio: 'ignore' }));
    await waitPort(sentinel);
    await waitFor('replica in sync', () => /master_link_status:up/.test(cli(replica, 'info', 'replication')));
    await waitFor('sentinel sees the master', () => cli(sentinel, 'sentinel', 'get-master-addr-by-name', 'mymaster').includes(String(master)));
  } catch (e) {
    await stopAll(children, dir);
    throw e;
  }
  const sentinels = [{ host: '127.0.0.1', port: sentinel }];
  return {
    config: { redis: { sentinels, name: 'mymaster' } },
    client: () => new Redis({ sentinels, name: 'mymaster', failoverDetector: true }),
    failover: async () => {
      cli(sentinel, 'sentinel', 'failover', 'mymaster');
      await waitFor('the replica promoted', () => cli(sentinel, 'sentinel', 'get-master-addr-by-name', 'mymaster').includes(String(replica)));
    },
    stop: () => stopAll(children, dir),
  };
}

/** Three masters (no replicas) forming one cluster that covers every slot. */
export async function startCluster(): Promise<RedisSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'prov-cluster-'));
  const ports = [await pickPort(true), await pickPort(true), await pickPort(true)];
  const children: ChildProcess[] = [];
  try {
    for (const p of ports) {
      const d = join(dir, String(p));
      children.push(server([...plain(p), '--cluster-enabled', 'yes', '--cluster-config-file', join(d, 'nodes.conf'), '--cluster-node-timeout', '5000'], d));
    }
    for (const p of ports) await waitPort(p);
    execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
    await waitFor('cluster state ok', () => ports.every((p) => /cluster_state:ok/.test(cli(p, 'cluster', 'info'))));
  } catch (e) {
    await stopAll(children, dir);
    throw e;
  }
  const nodes = ports.map((port) => ({ host: '127.0.0.1', port }));
  return {
    config: { redis: { cluster: { nodes } } },
    client: () => new Cluster(nodes) as unknown as Redis,
    stop: () => stopAll(children, dir),
  };
}
