import { encodeJobError, type JobError, type JobErrorCode } from '@provisioner/contracts';
import { isLibvirtError, type LibvirtErrorCode } from '@provisioner/libvirt';
import { UnrecoverableError } from 'bullmq';
import { ZodError } from 'zod';

/**
 * The job error code of each library error. The library's codes are job codes too and pass unchanged;
 * spelled out so that a code added to the library fails typecheck here until it is given one.
 */
export const LIBVIRT_TO_JOB_CODE: Record<LibvirtErrorCode, JobErrorCode> = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  CONNECTION: 'CONNECTION',
  AUTHENTICATION: 'AUTHENTICATION',
  HOST_KEY: 'HOST_KEY',
  TIMEOUT: 'TIMEOUT',
  CANCELED: 'CANCELED',
  COMMAND_FAILED: 'COMMAND_FAILED',
  PARSE: 'PARSE',
  DOMAIN_NOT_FOUND: 'DOMAIN_NOT_FOUND',
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  CHECKSUM_MISMATCH: 'CHECKSUM_MISMATCH',
  DOWNLOAD_FAILED: 'DOWNLOAD_FAILED',
  VM_LOCKED: 'VM_LOCKED',
  HOST_DISK_FULL: 'HOST_DISK_FULL',
};

/** Turns any error into the structured job error clients see; unknown errors say nothing internal. */
export function toJobError(e: unknown): JobError {
  if (isLibvirtError(e)) return { code: LIBVIRT_TO_JOB_CODE[e.code], message: e.message, retryable: e.retryable };
  if (e instanceof ZodError) return { code: 'INVALID_PAYLOAD', message: 'job payload does not match the job catalog', retryable: false };
  if (e instanceof WorkerError) return { code: e.code, message: e.message, retryable: e.retryable };
  return { code: 'INTERNAL', message: 'internal error in the worker', retryable: true };
}

export class WorkerError extends Error {
  override readonly name = 'WorkerError';
  constructor(
    readonly code: JobErrorCode,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** The error BullMQ records: its message is the JSON job error; non-retryable ones skip the retries. */
export function toBullError(err: JobError): Error {
  return err.retryable ? new Error(encodeJobError(err)) : new UnrecoverableError(encodeJobError(err));
}
