/**
 * A real webhook receiver for tests: an HTTP server on loopback that records every request (headers,
 * body, time) and counts every TCP connection, answering from a script (status codes, or `hang`).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Received {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Answer = number | 'hang';

export interface Receiver {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  received: Received[];
  /** TCP connections accepted, whether or not a request followed. */
  connections(): number;
  /** Answers for the next requests, in order; after them, `fallback`. */
  script(answers: Answer[], fallback?: Answer): void;
  /** Resolves once `n` requests have arrived. */
  waitFor(n: number, ms?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** Listens on `host` (`::` takes IPv4 and IPv6 loopback alike, so every encoding of loopback would reach it). */
export async function startReceiver(host = '127.0.0.1'): Promise<Receiver> {
  const received: Received[] = [];
  let answers: Answer[] = [];
  let fallback: Answer = 200;
  let connections = 0;
  const sockets = new Set<Socket>();
  const waiters: Array<() => void> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      received.push({ at: Date.now(), path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      for (const w of waiters.splice(0)) w();
      const answer = answers.shift() ?? fallback;
      if (answer === 'hang') return; // never answers; the client's timeout ends it
      if (answer >= 300 && answer < 400) res.setHeader('location', '/elsewhere');
      res.writeHead(answer, { 'content-type': 'text/plain' }).end(String(answer));
    });
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    connections: () => connections,
    script: (a, f = 200) => {
      answers = [...a];
      fallback = f;
    },
    waitFor: async (n, ms = 20_000) => {
      const end = Date.now() + ms;
      while (received.length < n) {
        if (Date.now() > end) throw new Error(`receiver got ${received.length} of ${n} requests within ${ms} ms`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
      return received.slice(0, n);
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
