/** readJobView against the machine's Redis and a real BullMQ queue. */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJobView } from '../src/job-view.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('view');
let queue: Queue;
beforeAll(() => {
  queue = new Queue('ops.r1.h1', { connection: env.redis, prefix: env.prefix });
});
afterAll(async () => {
  await queue.close();
});

describe('readJobView', () => {
  it('answers the job with its view as GET shows it, and null for a job the queue does not have', async () => {
    const id = `job_${randomBytes(16).toString('hex')}`;
    await queue.add('start', { kind: 'start', region: 'r1', host: 'h1', vm_name: 'vm-1', submitted_by: 'ci' }, { jobId: id });
    const found = await readJobView(queue, id);
    expect(found?.job.id).toBe(id);
    expect(found?.view).toMatchObject({ id, kind: 'start', state: 'queued', target: { region: 'r1', vm_name: 'vm-1' } });
    expect(await readJobView(queue, `job_${'0'.repeat(32)}`)).toBeNull();
  });
});
