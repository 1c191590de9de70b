/**
 * Reading bodies (body.ts) on a real @hono/node-server: a body with a Content-Length is read from Node's
 * stream without building the Web Request (what made a small POST three times slower, bench row 3), and
 * Hono's own readers still get the same body afterwards; chunked and oversized bodies keep their limits.
 */

import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyText, limitBody } from '../../src/body.ts';
import type { AppEnv } from '../../src/context.ts';
import { onError } from '../../src/errors.ts';

/** Whether @hono/node-server built the request's Web `Request` (it keeps it under a symbol of its own). */
const built = (raw: Request) =>
  Object.getOwnPropertySymbols(raw).some((s) => s.description === 'requestCache' && (raw as unknown as Record<symbol, unknown>)[s] !== undefined);

const app = new Hono<AppEnv>();
app.use('*', limitBody(1024));
app.post('/echo', async (c) => {
  const text = await bodyText(c);
  const builtBefore = built(c.req.raw);
  const json = await c.req.json();
  return c.json({ text, json, builtBefore });
});
app.onError(onError);

let server: ReturnType<typeof serve>;
let port = 0;
beforeAll(async () => {
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** A POST of `chunks`, with a Content-Length unless `chunked`. */
function post(chunks: string[], chunked = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const total = chunks.reduce((n, s) => n + Buffer.byteLength(s), 0);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/echo',
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': total }) },
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    for (const ch of chunks) req.write(ch);
    req.end();
  });
}

describe('request bodies', () => {
  it('reads a Content-Length body from the Node stream, and c.req.json() gets the same body', async () => {
    const r = await post(['{"vm_name":', '"ünïcode-ok"}']);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ text: '{"vm_name":"ünïcode-ok"}', json: { vm_name: 'ünïcode-ok' }, builtBefore: false });
  });

  it('reads a chunked body through Hono, within the limit', async () => {
    const r = await post(['{"a":', '1}'], true);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ text: '{"a":1}', json: { a: 1 } });
  });

  it('answers 413 to an oversized body, by its Content-Length or as it streams', async () => {
    expect((await post([`{"a":"${'x'.repeat(2000)}"}`])).status).toBe(413);
    expect((await post(['{"a":"', 'x'.repeat(2000), '"}'], true)).status).toBe(413);
  });

  it('serves an in-process request (no Node stream) the same way', async () => {
    const r = await app.request('/echo', { method: 'POST', body: '{"b":2}', headers: { 'content-type': 'application/json' } });
    expect(await r.json()).toMatchObject({ text: '{"b":2}', json: { b: 2 } });
  });
});
