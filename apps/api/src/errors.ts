/**
 * The API's one error envelope and its one `onError`. Every failure a client can see has a code from
 * a closed set, mapped exhaustively to an HTTP status; anything else is logged with its cause and
 * answered with a generic 500 (never a stack trace).
 */
import type { JobError, JobErrorCode } from '@provisioner/contracts';
import { type ApiErrorCode, ERROR_STATUS, type ErrorBody } from '@provisioner/contracts/api';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppEnv } from './context.ts';

/** The closed list of codes and their statuses are the contract's (`@provisioner/contracts/api`). */
export { ERROR_STATUS };
export type ErrorCode = ApiErrorCode;

/** What each error status means, as /openapi.json documents it (with the codes a route answers it with). */
export const STATUS_TEXT: Record<number, string> = {
  400: 'Malformed request (body not JSON or not an object, bad cursor)',
  401: 'Missing or invalid token',
  403: 'The token lacks the scope',
  404: 'Not found',
  409: 'Conflict (the name is taken, or the job was canceled)',
  412: 'If-Match names a version that is not the current one: read again, then write (the body carries the current one)',
  413: 'Body larger than max_body_bytes',
  422: 'Breaks the schema or names something the configuration does not have',
  429: 'Too many requests',
  500: 'Internal error (logged; no details given)',
  502: 'The job failed on the host',
  503: 'Redis (the job store) is unavailable',
  504: 'The job did not finish within the wait; it goes on (follow error.job_id)',
};

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: { jobId?: string; details?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }

  get status(): ContentfulStatusCode {
    return ERROR_STATUS[this.code];
  }
}

/**
 * A name or id from the request as a message may show it: plain ones as they are, anything else quoted and cut
 * short (a path may carry anything; the message must stay one readable line).
 */
export function shown(value: string): string {
  return /^[A-Za-z0-9_.:-]{1,80}$/.test(value) ? value : JSON.stringify(value.slice(0, 64));
}

// The errors that name their object, made in one place so every route says them alike. An owner-bound token
// asking for another owner's object gets the same 404 as for a missing one (it named the object itself).

/** 404: no host knows the VM (or it is not the owner-bound caller's). */
export function vmNotFound(region: string, name: string): ApiError {
  return new ApiError('NOT_FOUND', `VM ${shown(region)}/${shown(name)} not found`);
}

/** 409: a create of a VM whose name is taken in its region. */
export function vmExists(region: string, name: string): ApiError {
  return new ApiError('CONFLICT', `VM ${shown(region)}/${shown(name)} already exists`);
}

/** 404: no such job (or not the owner-bound caller's). */
export function jobNotFound(id: string): ApiError {
  return new ApiError('NOT_FOUND', `job ${shown(id)} not found`);
}

/** 404: no such webhook endpoint. */
export function webhookNotFound(id: string): ApiError {
  return new ApiError('NOT_FOUND', `webhook endpoint ${shown(id)} not found`);
}

/** 404: the job has no delivery of that id. */
export function deliveryNotFound(jobId: string, deliveryId: string): ApiError {
  return new ApiError('NOT_FOUND', `delivery ${shown(deliveryId)} of job ${shown(jobId)} not found`);
}

/** 404: the VM has no snapshot of that name. */
export function snapshotNotFound(region: string, name: string, snapshot: string): ApiError {
  return new ApiError('NOT_FOUND', `snapshot ${shown(snapshot)} of VM ${shown(region)}/${shown(name)} not found`);
}

export function errorBody(c: Context<AppEnv>, e: ApiError): ErrorBody {
  const error: ErrorBody['error'] = { code: e.code, message: e.message, request_id: c.get('requestId') ?? '' };
  if (e.extra.jobId) error.job_id = e.extra.jobId;
  if (e.extra.details !== undefined) error.details = e.extra.details;
  return { error, detail: e.message };
}

export function errorResponse(c: Context<AppEnv>, e: ApiError): Response {
  for (const [k, v] of Object.entries(e.extra.headers ?? {})) c.header(k, v);
  return c.json(errorBody(c, e), e.status);
}

const REDIS_DOWN_RE = /enableOfflineQueue|Connection is closed|max retries per request|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Stream isn't writeable/i;

/** Errors of an unreachable Redis (ioredis phrases them several ways). */
export function isRedisDown(e: unknown): boolean {
  return e instanceof Error && (REDIS_DOWN_RE.test(e.message) || e.name === 'MaxRetriesPerRequestError');
}

/** Maps whatever was thrown onto the envelope. */
export function toApiError(e: unknown): ApiError | null {
  if (e instanceof ApiError) return e;
  if (e instanceof HTTPException) {
    if (e.status === 413) return new ApiError('PAYLOAD_TOO_LARGE', 'request body too large');
    if (e.status === 401) return new ApiError('UNAUTHORIZED', 'Invalid or missing API Token');
    if (e.status === 404) return new ApiError('NOT_FOUND', 'not found');
    if (e.status >= 400 && e.status < 500) return new ApiError('BAD_REQUEST', e.message || 'bad request');
    return null;
  }
  if (isRedisDown(e)) return new ApiError('UNAVAILABLE', 'the job store (Redis) is unavailable, try again later');
  return null;
}

/** Hono's `onError`: known errors answered as they are, the rest logged with cause and hidden. */
export function onError(e: Error, c: Context<AppEnv>): Response {
  const known = toApiError(e);
  if (known) {
    if (known.code === 'UNAVAILABLE') c.get('logger')?.warn({ err: e.message, request_id: c.get('requestId') }, 'redis unavailable');
    return errorResponse(c, known);
  }
  c.get('logger')?.error(
    { err: { name: e.name, message: e.message, stack: e.stack, cause: String(e.cause ?? '') }, request_id: c.get('requestId') },
    'unhandled error',
  );
  return errorResponse(c, new ApiError('INTERNAL', 'internal error'));
}

export function notFound(c: Context<AppEnv>): Response {
  return errorResponse(c, new ApiError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`));
}

/**
 * What a failed job means to a client that waited for it (legacy routes): the job's own error code
 * decides the status, host and libvirt failures are 502. A Record over every job error code, so a new
 * code fails typecheck until it is given its answer here.
 */
export const JOB_FAILURE: Record<JobErrorCode, ErrorCode> = {
  DOMAIN_NOT_FOUND: 'NOT_FOUND',
  ALREADY_EXISTS: 'CONFLICT',
  CANCELED: 'CONFLICT',
  INVALID_ARGUMENT: 'VALIDATION',
  INVALID_PAYLOAD: 'VALIDATION',
  CONNECTION: 'JOB_FAILED',
  AUTHENTICATION: 'JOB_FAILED',
  HOST_KEY: 'JOB_FAILED',
  TIMEOUT: 'JOB_FAILED',
  COMMAND_FAILED: 'JOB_FAILED',
  PARSE: 'JOB_FAILED',
  CHECKSUM_MISMATCH: 'JOB_FAILED',
  DOWNLOAD_FAILED: 'JOB_FAILED',
  VM_LOCKED: 'JOB_FAILED',
  HOST_DISK_FULL: 'JOB_FAILED',
  // The guest, not the host, failed; the VM exists and runs (its console says why).
  GUEST_NOT_READY: 'JOB_FAILED',
  GUEST_CLOUD_INIT_ERROR: 'JOB_FAILED',
  CONFLICT: 'CONFLICT',
  INTERNAL: 'JOB_FAILED',
};

export function jobFailure(jobId: string, err: JobError | null, location: string): ApiError {
  const message = err?.message ?? 'the operation failed';
  const extra = { jobId, details: { job_error: err }, headers: { Location: location } };
  return new ApiError(err ? JOB_FAILURE[err.code] : 'JOB_FAILED', message, extra);
}
