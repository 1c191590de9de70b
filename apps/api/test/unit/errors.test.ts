import { JOB_ERROR_CODES, type JobErrorCode } from '@provisioner/contracts';
import { describe, expect, it } from 'vitest';
import { JOB_FAILURE, jobFailure } from '../../src/errors.ts';

describe('jobFailure (a failed job a legacy route waited for)', () => {
  it('gives every job error code an answer', () => {
    expect(Object.keys(JOB_FAILURE).sort()).toEqual([...JOB_ERROR_CODES].sort());
  });

  it.each<[JobErrorCode | null, number, string]>([
    ['DOMAIN_NOT_FOUND', 404, 'NOT_FOUND'],
    ['ALREADY_EXISTS', 409, 'CONFLICT'],
    ['CANCELED', 409, 'CONFLICT'],
    ['INVALID_ARGUMENT', 422, 'VALIDATION'],
    ['INVALID_PAYLOAD', 422, 'VALIDATION'],
    ['CONNECTION', 502, 'JOB_FAILED'],
    ['HOST_KEY', 502, 'JOB_FAILED'],
    ['COMMAND_FAILED', 502, 'JOB_FAILED'],
    ['DOWNLOAD_FAILED', 502, 'JOB_FAILED'],
    ['INTERNAL', 502, 'JOB_FAILED'],
    [null, 502, 'JOB_FAILED'],
  ])('%s answers %i %s, with the job id and its Location', (code, status, apiCode) => {
    const err = code ? { code, message: `failed: ${code}`, retryable: false } : null;
    const e = jobFailure('job_1', err, '/v1/jobs/job_1');
    expect(e.status).toBe(status);
    expect(e.code).toBe(apiCode);
    expect(e.message).toBe(err?.message ?? 'the operation failed');
    expect(e.extra).toEqual({ jobId: 'job_1', details: { job_error: err }, headers: { Location: '/v1/jobs/job_1' } });
  });
});
