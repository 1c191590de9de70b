/**
 * Fault injection in front of the real loopback host: a TCP proxy whose connections can be cut and whose
 * target can be switched, and an SSH server of its own (ssh2, a fresh host key) that stands for a
 * reinstalled host. The real sshd on 2222 is never touched.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Server as SshServer, utils as sshUtils } from 'ssh2';

export interface TcpProxy {
  port: number;
  /** Sends new connections to another port on 127.0.0.1. */
  setTarget(port: number): void;
  /** Destroys every open connection (both sides), as a network cut would. */
  cutAll(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let target = targetPort;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
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
