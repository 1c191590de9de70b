/**
 * The closed set of job error codes: what a failed or canceled job's `error.code` can be. The libvirt
 * library's codes pass through the worker unchanged, the worker adds its own, and the API maps each to an
 * HTTP status; all three mappings are `Record`s over these codes, so a new code fails typecheck until
 * every one of them says what it means.
 */
import { z } from 'zod';
import { LIBVIRT_ERROR_CODES } from './error-codes.ts';

export const JOB_ERROR_CODES = [
  ...LIBVIRT_ERROR_CODES,
  /** The job's payload does not match the job catalog (e.g. written by an incompatible API build). */
  'INVALID_PAYLOAD',
  /**
   * A create with `wait_until: ready` whose guest was not ready in time, stopped, or whose wait a later
   * operation on the VM ended. The VM is kept; its console says why.
   */
  'GUEST_NOT_READY',
  /** cloud-init in the guest reported errors (a create with `wait_until: ready`). The VM is kept. */
  'GUEST_CLOUD_INIT_ERROR',
  /** The VM's state on the host forbids the operation (e.g. a rebuild of a VM that has snapshots); nothing was changed. */
  'CONFLICT',
  /** Anything else: the worker says nothing internal (its log has the cause). */
  'INTERNAL',
] as const;
export type JobErrorCode = (typeof JOB_ERROR_CODES)[number];

export function isJobErrorCode(s: unknown): s is JobErrorCode {
  return typeof s === 'string' && (JOB_ERROR_CODES as readonly string[]).includes(s);
}

export const JobErrorSchema = z.object({ code: z.enum(JOB_ERROR_CODES), message: z.string(), retryable: z.boolean() });
export type JobError = z.infer<typeof JobErrorSchema>;

/** Error a processor throws so that BullMQ's failedReason carries the structured error. */
export function encodeJobError(e: JobError): string {
  return JSON.stringify(e);
}

export function decodeJobError(reason: string | undefined | null): JobError | null {
  if (!reason) return null;
  try {
    const o = JSON.parse(reason) as Partial<Record<keyof JobError, unknown>>;
    // A code outside the set (written by another build) is still shown, under INTERNAL, with its message.
    if (typeof o.code === 'string' && typeof o.message === 'string')
      return { code: isJobErrorCode(o.code) ? o.code : 'INTERNAL', message: o.message, retryable: Boolean(o.retryable) };
  } catch {
    // Not ours (e.g. "job stalled more than allowable limit"): show BullMQ's text under a generic code.
  }
  return { code: 'INTERNAL', message: reason, retryable: false };
}
