import { describe, expect, it } from 'vitest';
import { stepsOf } from '../src/jobs.ts';
import { toJobView } from '../src/view.ts';

const create = { kind: 'create' as const, region: 'r1', host: 'h1', vm_name: 'vm1', wait_until: 'ready' };
const record = (data: object, progress: unknown = 0) => ({ id: 'job_1', data, progress, attemptsMade: 0, timestamp: 1, processedOn: 2 });

describe('a create that waits for its guest, as clients see it', () => {
  it('lists wait-ready as its last step before it runs; other creates end with start', () => {
    expect(stepsOf(create)).toEqual(['fetch-image', 'create-disk', 'create-seed', 'define', 'start', 'wait-ready']);
    expect(stepsOf({ ...create, wait_until: 'running' }).at(-1)).toBe('start');
    expect(stepsOf({ kind: 'create' }).at(-1)).toBe('start');
    expect(
      toJobView(record(create), 'waiting')
        .steps.map((s) => s.name)
        .at(-1),
    ).toBe('wait-ready');
  });

  it('is running with step wait-ready while delayed between its looks at the guest, queued before its VM runs', () => {
    const progress = {
      percent: 90,
      step: 'wait-ready',
      steps: [{ name: 'wait-ready', state: 'running', started_at: '2024-01-01T00:00:00.000Z', finished_at: null, detail: 'waiting for cloud-init (running)' }],
    };
    const waiting = { ...create, ready_wait: { since: 1, image_sha256: 'a'.repeat(64) } };
    for (const bull of ['delayed', 'waiting', 'prioritized']) {
      expect(toJobView(record(waiting, progress), bull)).toMatchObject({ state: 'running', step: 'wait-ready' });
    }
    // Delayed before its VM was made (waiting for its turn or a retry): queued, as before.
    expect(toJobView(record(create), 'delayed').state).toBe('queued');
    expect(toJobView(record(waiting, progress), 'failed').state).toBe('failed');
  });

  it('started when its first step did, however often it was picked up again; a canceled wait leaves no running step', () => {
    const waiting = { ...create, ready_wait: { since: 1, image_sha256: 'a'.repeat(64) } };
    const progress = {
      percent: 90,
      step: 'wait-ready',
      steps: [
        { name: 'fetch-image', state: 'succeeded', started_at: '2024-01-01T00:00:01.000Z', finished_at: '2024-01-01T00:00:02.000Z' },
        { name: 'wait-ready', state: 'running', started_at: '2024-01-01T00:00:05.000Z', finished_at: null },
      ],
    };
    const looked = { ...record(waiting, progress), processedOn: Date.parse('2024-01-01T00:01:00.000Z') };
    expect(toJobView(looked, 'delayed').started_at).toBe('2024-01-01T00:00:01.000Z');
    const canceled = {
      ...looked,
      failedReason: JSON.stringify({ code: 'CANCELED', message: 'canceled by admin', retryable: false }),
      finishedOn: Date.parse('2024-01-01T00:02:00.000Z'),
    };
    const v = toJobView(canceled, 'failed');
    expect(v.state).toBe('canceled');
    expect(v.steps.at(-1)).toMatchObject({ name: 'wait-ready', state: 'failed', finished_at: '2024-01-01T00:02:00.000Z' });
    expect(v.steps.some((s) => s.state === 'running')).toBe(false);
  });
});
