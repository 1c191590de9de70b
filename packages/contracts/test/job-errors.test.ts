import { describe, expect, it } from 'vitest';
import { decodeJobError, encodeJobError, isJobErrorCode, JOB_ERROR_CODES, JobErrorSchema } from '../src/job-errors.ts';

describe('job error codes', () => {
  it.each(JOB_ERROR_CODES)('%s survives BullMQ failedReason (encode, decode)', (code) => {
    const e = { code, message: `m ${code}`, retryable: code === 'CONNECTION' };
    expect(decodeJobError(encodeJobError(e))).toEqual(e);
    expect(JobErrorSchema.parse(e)).toEqual(e);
  });

  it('shows a code outside the set (another build wrote it) under INTERNAL, with its message', () => {
    expect(isJobErrorCode('HOST_UNREACHABLE')).toBe(false);
    expect(decodeJobError(JSON.stringify({ code: 'HOST_UNREACHABLE', message: 'gone', retryable: true }))).toEqual({
      code: 'INTERNAL',
      message: 'gone',
      retryable: true,
    });
  });

  it("shows BullMQ's own text under INTERNAL, and no reason as no error", () => {
    expect(decodeJobError('job stalled more than allowable limit')).toEqual({
      code: 'INTERNAL',
      message: 'job stalled more than allowable limit',
      retryable: false,
    });
    expect(decodeJobError(undefined)).toBeNull();
    expect(decodeJobError('')).toBeNull();
  });
});
