/** Helpers shared by integration tests: the loopback host, tiny images served over HTTP, unique names. */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hypervisor, type HypervisorOptions } from '@provisioner/libvirt';
import { waitPort } from './net.ts';
import { freePort } from './stack.ts';

export interface LoopbackHost {
  address: string;
  port: number;
  user: string;
  host_key_fingerprint: string;
  private_key_path: string;
  images_dir: string;
  disks_dir: string;
  libvirt_uri: string;
  kvm: boolean;
}

export function hypervisorOptions(h: LoopbackHost, over: Partial<HypervisorOptions['ssh']> = {}): HypervisorOptions {
  return {
    ssh: {
      host: h.address,
      port: h.port,
      username: h.user,
      privateKey: readFileSync(h.private_key_path),
      hostKeyFingerprints: [h.host_key_fingerprint],
      connectTimeoutMs: 10_000,
      commandTimeoutMs: 120_000,
      ...over,
    },
    uri: h.libvirt_uri,
    imagesDir: h.images_dir,
    disksDir: h.disks_dir,
    network: { type: 'none' },
  };
}

export function makeHypervisor(h: LoopbackHost, over: Partial<HypervisorOptions['ssh']> = {}): Hypervisor {
  return new Hypervisor(hypervisorOptions(h, over));
}

/**
 * An independent hypervisor host on this machine for placement tests: `user`'s own libvirt instance
 * (`qemu:///session`: its own daemon, sockets, domains and storage, untouched by tests that use the
 * system libvirt), with its image cache and disks in its home. For a user other than the loopback
 * host's, the user is created (once) with the loopback host's client key authorized; reach it through
 * an sshd of the test's own (`startHostSshd`), since the shared one admits only its automation user.
 */
export function sessionHost(h: LoopbackHost, user = h.user): LoopbackHost {
  if (user !== h.user) {
    if (spawnSync('id', ['-u', user]).status !== 0) {
      execFileSync('useradd', ['--system', '--create-home', '--shell', '/bin/sh', '--user-group', '--comment', 'Provisioner test host', user]);
    }
    // Key-only login: sshd (UsePAM no) refuses a locked account ('!'), as install-server.sh knows.
    execFileSync('usermod', ['--password', '*', user]);
  }
  const home = execFileSync('getent', ['passwd', user], { encoding: 'utf8' }).split(':')[5] ?? '';
  if (!home.startsWith('/')) throw new Error(`no home for ${user}`);
  const dir = join(home, 'session-host');
  const images = join(dir, 'images');
  const disks = join(dir, 'disks');
  const ssh = join(home, '.ssh');
  for (const d of [dir, images, disks]) execFileSync('install', ['-d', '-o', user, '-g', user, '-m', '0755', d]);
  if (user !== h.user) {
    execFileSync('install', ['-d', '-o', user, '-g', user, '-m', '0700', ssh]);
    writeFileSync(join(ssh, 'authorized_keys'), readFileSync(`${h.private_key_path}.pub`), { mode: 0o600 });
    execFileSync('chown', [`${user}:${user}`, join(ssh, 'authorized_keys')]);
  }
  return { ...h, user, libvirt_uri: 'qemu:///session', images_dir: images, disks_dir: disks };
}

/**
 * An sshd of the test's own on `port` for `users`: the loopback host's sshd configuration (same host
 * keys, so the same pinned fingerprint) with its own port, pid file and allowed users.
 */
export async function startHostSshd(port: number, users: string[]): Promise<{ port: number; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'prov-sshd-'));
  const base = readFileSync('/etc/ssh/sshd_config_provisioner', 'utf8')
    .split('\n')
    .filter((l) => !/^(Port|ListenAddress|PidFile|AllowUsers)\b/.test(l));
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [...base, `Port ${port}`, 'ListenAddress 127.0.0.1', `PidFile ${join(dir, 'sshd.pid')}`, `AllowUsers ${users.join(' ')}`, ''].join('\n'),
  );
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: 'ignore' });
  await waitPort(port, 10_000, () => child.exitCode === null);
  return {
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((r) => {
          child.once('exit', () => r());
          child.kill('SIGTERM');
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A libvirt of a test file's own: `user`'s session libvirt (created like sessionHost's second user) reached
 * through an sshd of the file's own on a free port. For files that count or clean every domain or file of
 * their host (a vCPU cap, drift), so they can run beside the other files of the run.
 */
export async function ownSessionHost(h: LoopbackHost, user: string): Promise<{ host: LoopbackHost; stop(): Promise<void> }> {
  const port = await freePort();
  const host = { ...sessionHost(h, user), port };
  const sshd = await startHostSshd(port, [user]);
  return { host, stop: () => sshd.stop() };
}

/** A name no other test run uses, so tests never touch VMs they did not make. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export interface ImageServer {
  url(name: string): string;
  requests: string[];
  /** Most downloads that were in flight at once (the host's real download concurrency). */
  readonly maxConcurrent: number;
  close(): Promise<void>;
  dir: string;
}

/** Makes tiny qcow2 images (no OS needed to define/start a domain) and a raw file of random bytes. */
export function makeImages(specs: Array<{ name: string; sizeMiB?: number; raw?: boolean; bytes?: number }>): string {
  const dir = mkdtempSync(join(tmpdir(), 'prov-img-'));
  for (const s of specs) {
    const path = join(dir, s.name);
    if (s.raw) {
      execFileSync('sh', ['-c', 'head -c "$1" /dev/urandom > "$2"', 'mk', String(s.bytes ?? 1 << 20), path]);
    } else {
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, `${s.sizeMiB ?? 64}M`]);
    }
  }
  return dir;
}

/**
 * Serves files from `dir` on 127.0.0.1. `bytesPerSecond` throttles the body so downloads take real
 * time (progress, cancellation); `/status/NNN` answers that status.
 */
export async function startImageServer(dir: string, opts: { bytesPerSecond?: number } = {}): Promise<ImageServer> {
  const requests: string[] = [];
  let inFlight = 0;
  let maxConcurrent = 0;
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    inFlight++;
    maxConcurrent = Math.max(maxConcurrent, inFlight);
    res.on('close', () => inFlight--);
    const status = /^\/status\/(\d{3})$/.exec(path);
    if (status) {
      res.writeHead(Number(status[1])).end('no');
      return;
    }
    const file = join(dir, path.replace(/^\/+/, ''));
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
    const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
    if (!opts.bytesPerSecond) {
      stream.pipe(res);
      return;
    }
    // Paced against the clock (not a fixed sleep per chunk, which timer granularity would slow down).
    const bps = opts.bytesPerSecond;
    const t0 = performance.now();
    let sent = 0;
    stream.on('data', (chunk) => {
      sent += chunk.length;
      const ahead = (sent / bps) * 1000 - (performance.now() - t0);
      if (!res.write(chunk) || ahead > 1) {
        stream.pause();
        const resume = () => setTimeout(() => stream.resume(), Math.max(0, (sent / bps) * 1000 - (performance.now() - t0)));
        if (res.writableNeedDrain) res.once('drain', resume);
        else resume();
      }
    });
    stream.on('end', () => res.end());
    res.on('close', () => stream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    dir,
    requests,
    get maxConcurrent() {
      return maxConcurrent;
    },
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
        rmSync(dir, { recursive: true, force: true });
      }),
  };
}

/** Command lines of this machine's processes (the loopback host's process table). */
export function processTable(): string {
  return execFileSync('ps', ['-eo', 'pid,pgid,args'], { encoding: 'utf8' });
}
