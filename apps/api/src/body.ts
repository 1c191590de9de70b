/**
 * The request body as text, read once per request. On @hono/node-server, when nobody has started reading the
 * request yet and it has a Content-Length (which the body-limit middleware has checked), it is read straight
 * from Node's IncomingMessage: `c.req.text()` first builds the Web `Request` with a `ReadableStream` and an
 * `AbortController` around it, which measured three times slower for a small JSON POST (bench row 3's
 * floor). The text goes into Hono's body cache, so `c.req.text()`, `json()` or `parseBody()` later get the
 * same body. Anywhere else (an in-process `app.fetch`, a chunked body, a stream already being read) it is
 * `c.req.text()`.
 */
import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from './errors.ts';

export function bodyText(c: Context): Promise<string> {
  const req = c.req;
  // Hono keeps the promises of what it read there (its type says the values).
  const cache = req.bodyCache as Record<string, Promise<unknown> | undefined>;
  const cached = cache.text as Promise<string> | undefined;
  if (cached) return cached;
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const untouched = incoming !== undefined && incoming.readableFlowing === null && !incoming.readableDidRead && incoming.listenerCount('data') === 0;
  if (!untouched || Object.keys(cache).length > 0 || req.header('content-length') === undefined) return req.text();
  const text = new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (b: Buffer) => chunks.push(b));
    incoming.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    incoming.once('error', reject);
    incoming.once('aborted', () => reject(new Error('request aborted')));
  });
  cache.text = text;
  return text;
}

/** How much of an oversized body is read and dropped before the 413, as a multiple of the limit. */
const DISCARD_CAP_FACTOR = 16;

async function discardBody(req: Request, cap: number): Promise<void> {
  if (!req.body || req.bodyUsed) return;
  const reader = req.body.getReader();
  let read = 0;
  try {
    while (read <= cap) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
  } catch {
    // The client went away: nothing to drain.
  } finally {
    reader.releaseLock();
  }
}

/**
 * Bodies larger than `maxBytes` get a 413. A body with a Content-Length is judged by its header alone (Node's
 * parser delivers exactly that many bytes), and a request without a body passes: neither touches
 * `c.req.raw.body`, which on @hono/node-server builds the whole Web `Request` (and would keep bodyText from
 * reading the Node stream). Only a chunked body goes through Hono's bodyLimit, which counts as it reads.
 */
export function limitBody(maxBytes: number): MiddlewareHandler {
  const tooLarge = async (c: Context): Promise<never> => {
    // Read (and drop) the rest of a moderately oversized body before answering, so the client has
    // finished sending and reads the 413 instead of a reset socket; past the cap, answer and close.
    await discardBody(c.req.raw, DISCARD_CAP_FACTOR * maxBytes);
    throw new ApiError('PAYLOAD_TOO_LARGE', `request body larger than ${maxBytes} bytes`, { headers: { Connection: 'close' } });
  };
  const chunked = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return (c, next) => {
    const length = c.req.header('content-length');
    const encoding = c.req.header('transfer-encoding');
    if (encoding === undefined) {
      if (length === undefined) return next();
      return Number.parseInt(length, 10) > maxBytes ? tooLarge(c) : next();
    }
    return chunked(c, next);
  };
}
