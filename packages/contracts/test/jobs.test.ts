import { describe, expect, it } from 'vitest';
import { isJobId } from '../src/ids.ts';
import { HOST_JOB_KINDS, isHostJob, JOB_KINDS, type JobKind } from '../src/jobs.ts';

describe('job ids and kinds', () => {
  it('a job id is job_ and 32 lowercase hex digits, nothing else', () => {
    expect(isJobId(`job_${'a1'.repeat(16)}`)).toBe(true);
    for (const id of ['', 'job_', `job_${'A'.repeat(32)}`, `job_${'a'.repeat(31)}`, `job_${'a'.repeat(33)}`, `x${'a'.repeat(32)}`, 'repeat:refresh:r1:h1:1'])
      expect(isJobId(id)).toBe(false);
  });

  it('refresh and image-cache are host jobs, every other kind is about one VM', () => {
    const host = JOB_KINDS.filter((kind: JobKind) => isHostJob({ kind }));
    expect(host).toEqual([...HOST_JOB_KINDS]);
    expect(JOB_KINDS.filter((kind) => !isHostJob({ kind }))).toEqual([
      'create',
      'start',
      'stop',
      'reboot',
      'delete',
      'edit-tags',
      'resize',
      'rebuild',
      'snapshot-create',
      'snapshot-revert',
      'snapshot-delete',
    ]);
  });
});
