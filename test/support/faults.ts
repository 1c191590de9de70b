/**
 * Fault injection in front of the real loopback host: a TCP proxy whose connections can be cut and whose
 * target can be switched; an SSH server of its own (ssh2, a fresh host key) that stands for a reinstalled
 * host; and a Redis and an sshd of the test's own on spare ports. The machine's Redis and the shared sshd
 * on 2222 are never touched.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server as SshServer, utils as sshUtils } from 'ssh2';
import { waitPort } from './net.ts';

export interface TcpProxy {
  port: number;
  /** Sends new connections to another port on 127.0.0.1. */
  setTarget(port: number): void;
  /** Destroys every open connection (both sides), as a network cut would. */
  cutAll(): number;
  /**
   * A partition: every open connection is destroyed and new ones are closed at once, until `heal()`. The
   * client sees its connection drop and every reconnection fail, as when a network between it and the
   * server goes down.
   */
  partition(): number;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let target = targetPort;
  let down = false;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(target, '127.0.0.1');
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    setTarget: (p) => {
      target = p;
    },
    cutAll: () => {
      const n = open.size;
      for (const s of open) s.destroy();
      open.clear();
      return n;
    },
    partition: () => {
      down = true;
      const n = open.size;
      for (const s of open) s.destroy();
      open.clear();
      return n;
    },
    heal: () => {
      down = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        server.close(() => r());
      }),
  };
}

/** An SSH server with a host key of its own that lets nobody in: what a reinstalled host looks like to a pinned client. */
export async function startForeignSshServer(): Promise<{ port: number; close(): Promise<void> }> {
  const key = sshUtils.generateKeyPairSync('ed25519');
  const server = new SshServer({ hostKeys: [key.private] }, (client) => {
    client.on('authentication', (ctx) => ctx.reject());
    client.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export interface OwnService {
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.once('exit', () => r());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

/**
 * A Redis of the test's own on a spare port: the machine's Redis is never touched. With `dir` it keeps an
 * append-only file there (fsync `appendfsync`, default everysec, as docker-compose.yml runs it), so it can be
 * restarted on the same port with its data.
 */
export async function startOwnRedis(port: number, o: { dir?: string; appendfsync?: 'always' | 'everysec' } = {}): Promise<OwnService> {
  const persistence = o.dir ? ['--dir', o.dir, '--appendonly', 'yes', '--appendfsync', o.appendfsync ?? 'everysec'] : ['--appendonly', 'no'];
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: 'ignore' });
  await waitPort(port);
  return { port, process: child, stop: () => stopChild(child) };
}

/**
 * An sshd of the test's own on a spare port, with the loopback host's configuration (same host keys, same
 * automation user): its sessions can be killed without touching the shared sshd on 2222.
 */
export async function startOwnSshd(port: number, config = '/etc/ssh/sshd_config_provisioner'): Promise<OwnService & { killSessions(): number }> {
  const dir = mkdtempSync(join(tmpdir(), 'prov-sshd-'));
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config, '-p', String(port), '-o', `PidFile=${join(dir, 'sshd.pid')}`], { stdio: 'ignore' });
  await waitPort(port);
  return {
    port,
    process: child,
    /** Kills every session (connection) process of this sshd with SIGKILL, as a crash of the far end would. */
    killSessions: () => {
      // Every sshd process below the listener: each connection's monitor and its unprivileged child.
      const rows = spawnSync('ps', ['-eo', 'pid=,ppid=,comm='], { encoding: 'utf8' })
        .stdout.split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter((r) => r.length >= 3)
        .map(([pid, ppid, comm]) => ({ pid: Number(pid), ppid: Number(ppid), comm }));
      const below = new Set<number>([child.pid ?? -1]);
      for (let grew = true; grew; ) {
        grew = false;
        for (const r of rows) {
          if (r.comm === 'sshd' && below.has(r.ppid) && !below.has(r.pid)) {
            below.add(r.pid);
            grew = true;
          }
        }
      }
      below.delete(child.pid ?? -1);
      const pids = [...below];
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      return pids.length;
    },
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
