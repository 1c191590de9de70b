/**
 * Row 3's context, on @hono/node-server like the API:
 * - `GET /`: a bare Hono hello-world (no body, no Redis);
 * - `POST /add`: the floor of an HTTP accept — reads the JSON body (straight from Node's stream, the fastest
 *   way measured) and makes ONE BullMQ `Queue.add` of a
 *   payload of BYTES bytes with a create's job options, answers 202 with the job id. No auth, validation,
 *   placement or logging: what any HTTP front of BullMQ pays at least.
 * Its keys live under a prefix of its own, removed on SIGTERM.
 *
 *   node --import tsx bench/hello.ts PORT [BYTES]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { serve } from '@hono/node-server';
import { Queue } from 'bullmq';
import { Hono } from 'hono';
import { Redis } from 'ioredis';

const bytes = Number(process.argv[3] ?? 600);
const prefix = `{bfloor${randomBytes(4).toString('hex')}}`;
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const queue = new Queue('floor', { connection: redis, prefix });
const base = { kind: 'create', region: 'r1', host: 'h1', vm_name: 'x', pad: '' };
const padding = 'x'.repeat(Math.max(0, bytes - JSON.stringify(base).length));

const app = new Hono<{ Bindings: { incoming: IncomingMessage } }>();
app.get('/', (c) => c.text('Hello World'));
app.post('/add', async (c) => {
  const chunks: Buffer[] = [];
  for await (const chunk of c.env.incoming) chunks.push(chunk as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { vm_name?: string };
  const id = `job_${randomUUID().replaceAll('-', '')}`;
  await queue.add(
    'create',
    { ...base, vm_name: String(body.vm_name ?? 'x'), pad: padding },
    {
      jobId: id,
      attempts: 3,
      backoff: { type: 'exponential', delay: 300, jitter: 0.5 },
      removeOnComplete: { age: 86400, count: 1000 },
      removeOnFail: { age: 86400, count: 1000 },
    },
  );
  return c.json({ id, state: 'queued' }, 202);
});
const server = serve({ fetch: app.fetch, port: Number(process.argv[2]), hostname: '127.0.0.1' });

process.once('SIGTERM', async () => {
  server.close();
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (found.length) await redis.del(...found);
  } while (cursor !== '0');
  await redis.quit();
  process.exit(0);
});
