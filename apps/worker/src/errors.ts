import { encodeJobError, type JobError } from '@provisioner/contracts';
import { isLibvirtError } from '@provisioner/libvirt';
import { UnrecoverableError } from 'bullmq';
import { ZodError } from 'zod';

/** Turns any error into the structured job error clients see; unknown errors say nothing internal. */
export function toJobError(e: unknown): JobError {
  if (isLibvirtError(e)) return { code: e.code, message: e.message, retryable: e.retryable };
  if (e instanceof ZodError) return { code: 'INVALID_PAYLOAD', message: 'job payload does not match the job catalog', retryable: false };
  if (e instanceof WorkerError) return { code: e.code, message: e.message, retryable: e.retryable };
  return { code: 'INTERNAL', message: 'internal error in the worker', retryable: true };
}

export class WorkerError extends Error {
  override readonly name = 'WorkerError';
  constructor(
    readonly code: string,
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
