/**
 * The API's one error envelope and its closed list of error codes, each with the HTTP status it is answered
 * with. The API's typed errors (apps/api/src/errors.ts), `/openapi.json` and the client's `ApiError` all take
 * them from here: a code added here is documented and typed everywhere, and a code not here cannot be sent.
 * zod only (no Node modules): the client bundles it for browsers.
 */
import { z } from 'zod';

/** Every `error.code` the API answers. */
export const API_ERROR_CODES = [
  /** Malformed request: the body is not JSON, not an object, or the cursor cannot be read. */
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  /** A write's If-Match names a version of the VM that is not the current one (it changed since it was read). */
  'PRECONDITION_FAILED',
  'PAYLOAD_TOO_LARGE',
  /** Well-formed input (body, path or query) that breaks the schema or names something the configuration does not have. */
  'VALIDATION',
  /** The token's rate limit is used up (Retry-After says when to come back). */
  'RATE_LIMITED',
  'INTERNAL',
  /** A job the client waited for (legacy routes, console reads) failed on the host. */
  'JOB_FAILED',
  /** Redis does not answer: nothing can be queued or read. */
  'UNAVAILABLE',
  /** A legacy route's job did not finish within its wait (the job goes on). */
  'TIMEOUT',
] as const;

export const ApiErrorCode = z.enum(API_ERROR_CODES);
export type ApiErrorCode = z.infer<typeof ApiErrorCode>;

/** The HTTP status of each code: a Record over the list, so a new code fails typecheck until it has one. */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  VALIDATION: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  JOB_FAILED: 502,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
} as const satisfies Record<ApiErrorCode, number>;

/** One problem of a 422 (`error.details`): the field (or path or query parameter) and a predicate about it. */
export const FieldProblem = z.object({
  path: z.string().meta({ example: 'tail_bytes' }),
  message: z.string().meta({ example: 'must be at most 1048576' }),
});
export type FieldProblem = z.infer<typeof FieldProblem>;

export const ErrorBody = z
  .object({
    error: z.object({
      code: ApiErrorCode,
      message: z.string().meta({ description: 'Sentences naming what they are about (`VM local/web-1 not found`, `vm_name is required`)' }),
      request_id: z.string().meta({ description: 'The X-Request-Id of the request' }),
      job_id: z.string().optional().meta({ description: 'The job concerned (legacy routes: the job that failed or is still running)' }),
      details: z.unknown().optional().meta({
        description:
          'Per-field problems (`[{path, message}]`, the message a predicate of the field: `{"path": "tail_bytes", "message": "must be at most 1048576"}`) or the job error',
      }),
    }),
    detail: z.string().meta({ description: 'Same as error.message: what the replaced service’s clients read' }),
    // GET /ready answers its 503 in the envelope with this beside it.
    status: z.literal('unready').optional().meta({ description: 'GET /ready only: the API is not ready' }),
  })
  .meta({ description: 'The one error envelope of every route' });
export type ErrorBody = z.infer<typeof ErrorBody>;
