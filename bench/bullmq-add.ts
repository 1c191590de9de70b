/**
 * Row 3's reference: raw BullMQ `Queue.add` throughput with `inflight` adds in flight, on the same Redis, under
 * a prefix of its own, with a job payload of `bytes` bytes (as JSON), and the options a create's job carries
 * (its own job id, attempts, backoff, kept when finished). Its own Node process, like the API. Prints JSON:
 * `{ adds, seconds, rate, p50, p99 }`; removes its keys at the end.
 *
 *   node --import tsx bench/bullmq-add.ts SECONDS BYTES [INFLIGHT]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { quantile } from './lib.ts';

const seconds = Number(process.argv[2] ?? 10);
const bytes = Number(process.argv[3] ?? 600);
const inflight = Number(process.argv[4] ?? 100);
const prefix = `{braw${randomBytes(4).toString('hex')}}`;
const redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const queue = new Queue('raw', { connection: redis, prefix });
await queue.waitUntilReady();

// A payload whose JSON is `bytes` long: the fields of a create, the rest as padding in one string.
const base = { kind: 'create', region: 'r1', host: 'h1', vm_name: 'x', pad: '' };
const pad = Math.max(0, bytes - JSON.stringify(base).length);
const padding = 'x'.repeat(pad);
const latencies: number[] = [];
let adds = 0;
const end = performance.now() + seconds * 1000;
const t0 = performance.now();
async function lane(): Promise<void> {
  while (performance.now() < end) {
    const t = performance.now();
    await queue.add(
      'create',
      { ...base, vm_name: `v-${adds}`, pad: padding },
      {
        jobId: `job_${randomUUID().replaceAll('-', '')}`,
        attempts: 3,
        backoff: { type: 'exponential', delay: 300, jitter: 0.5 },
        removeOnComplete: { age: 86400, count: 1000 },
        removeOnFail: { age: 86400, count: 1000 },
      },
    );
    latencies.push(performance.now() - t);
    adds++;
  }
}
await Promise.all(Array.from({ length: inflight }, lane));
const took = (performance.now() - t0) / 1000;
process.stdout.write(`${JSON.stringify({ adds, seconds: took, rate: adds / took, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), bytes })}\n`);
await queue.obliterate({ force: true }).catch(() => undefined);
await queue.close();
let cursor = '0';
do {
  const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
  cursor = next;
  if (found.length) await redis.del(...found);
} while (cursor !== '0');
await redis.quit();
