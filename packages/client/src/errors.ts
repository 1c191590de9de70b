/**
 * What a call can fail with, as values of two classes (every method of the client throws one of them and
 * nothing else of its own): the API answered with an error status (`ApiError`: its code, message, status
 * and request id, from the API's one error envelope), or it could not be reached (`ConnectionError`).
 * `kind` tells them apart without `instanceof` (two copies of this module in one bundle).
 */

import type { ApiErrorCode as ContractErrorCode, ErrorBody, FieldProblem } from '@provisioner/contracts/api';

export type { FieldProblem };

/**
 * The API's error codes (the contract's closed list, its envelope's `error.code`); `HTTP_<status>` when
 * something else answered (a proxy).
 */
export type ApiErrorCode = ContractErrorCode | `HTTP_${number}`;

/** The API answered with an error status. */
export class ApiError extends Error {
  readonly kind = 'api' as const;
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    /** The request's X-Request-Id: the API's log lines carry it. */
    readonly requestId: string | null,
    /** Per-field problems of a 422 (`FieldProblem[]`), or a failed job's error on legacy routes. */
    readonly details: unknown,
    /** Seconds the API asked to wait before trying again (429, 503), when it said. */
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The per-field problems of a 422, or none. */
  get fields(): FieldProblem[] {
    return Array.isArray(this.details)
      ? (this.details as Array<{ path?: unknown; message?: unknown }>).map((d) => ({ path: String(d.path ?? ''), message: String(d.message ?? '') }))
      : [];
  }
}

/** The API could not be reached (refused, DNS, TLS, reset), or the call was aborted. */
export class ConnectionError extends Error {
  readonly kind = 'connection' as const;
  constructor(
    message: string,
    /** The system's code (`ECONNREFUSED`, `ENOTFOUND`, `AbortError`…) when it gave one. */
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'ConnectionError';
  }
}

export type ClientError = ApiError | ConnectionError;

/** Whether `e` is an error of this client (optionally: an API error with this code). */
export function isApiError(e: unknown, code?: ApiErrorCode): e is ApiError {
  return e instanceof Error && (e as Partial<ApiError>).kind === 'api' && (code === undefined || (e as ApiError).code === code);
}

export function isConnectionError(e: unknown): e is ConnectionError {
  return e instanceof Error && (e as Partial<ConnectionError>).kind === 'connection';
}

/** What an error answer's body may hold: the contract's envelope, any part of it missing (a proxy's page holds none). */
type ErrorEnvelope = Partial<Omit<ErrorBody, 'error'>> & { error?: Partial<ErrorBody['error']> };

/** `Retry-After` in seconds: a number of seconds or an HTTP date (null when absent or unreadable). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === '') return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  // An HTTP date names its day and month; a bare `-3` would parse as a year.
  const at = /^[A-Za-z]{3}, /.test(v) ? Date.parse(v) : Number.NaN;
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The error an error answer stands for (its body read and parsed; a body that is not the envelope keeps the status line). */
export async function toApiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let env: ErrorEnvelope = {};
  try {
    env = JSON.parse(text) as ErrorEnvelope;
  } catch {
    // Not the API's envelope (a proxy's page): keep the status line.
  }
  const code = (env.error?.code ?? `HTTP_${res.status}`) as ApiErrorCode;
  const message = env.error?.message ?? env.detail ?? (res.statusText || `HTTP ${res.status}`);
  return new ApiError(
    res.status,
    code,
    message,
    env.error?.request_id ?? res.headers.get('x-request-id'),
    env.error?.details,
    parseRetryAfter(res.headers.get('retry-after')),
  );
}

/** A fetch failure as a ConnectionError naming the address and the system's reason. */
export function toConnectionError(base: string, e: unknown): ConnectionError {
  if ((e as Error)?.name === 'AbortError') return new ConnectionError('the request was aborted', 'AbortError');
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return new ConnectionError(`cannot reach ${base}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, cause?.code ?? null);
}
