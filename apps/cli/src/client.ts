/**
 * A small client of the Provisioner API: JSON in and out, the bearer token on every request, and
 * the API's error envelope turned into an `ApiError` that keeps its code, message and request id.
 */
import { readSse, type SseEvent } from './sse.ts';

/** The job view (GET /v1/jobs/{id}); only what the CLI reads is typed. */
export interface Job {
  id: string;
  kind: string;
  target: { region: string; vm_name: string | null; host: string };
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
  progress: number;
  step: string | null;
  steps: Array<{ name: string; state: string }>;
  attempts: number;
  created_at?: string;
  started_at?: string | null;
  finished_at?: string | null;
  error: { code: string; message: string; retryable: boolean } | null;
  result: unknown;
  request_id?: string | null;
}

export const isTerminal = (s: Job['state']) => s === 'succeeded' || s === 'failed' || s === 'canceled';

/** The API answered with an error status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
    readonly details: unknown,
  ) {
    super(message);
  }
}

/** The API could not be reached (refused, DNS, TLS, reset). */
export class ConnectionError extends Error {}

interface ErrorEnvelope {
  error?: { code?: string; message?: string; request_id?: string; details?: unknown };
  detail?: string;
}

export class Client {
  private readonly base: string;
  constructor(
    url: string,
    private readonly token: string,
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  private async send(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${this.token}`);
    if (body !== undefined) headers.set('content-type', 'application/json');
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { ...init, method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new ConnectionError(`cannot reach ${this.base}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
    if (res.status >= 400) throw await toApiError(res);
    return res;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    return (await res.json()) as T;
  }

  /** A GET answered with text (a VM's console). */
  async text(path: string): Promise<string> {
    return (await this.send('GET', path)).text();
  }

  /** Follows `/v1/jobs/{id}/events`, yielding each event until the stream ends or `signal` aborts. */
  async *events(id: string, signal?: AbortSignal): AsyncGenerator<SseEvent> {
    const res = await this.send('GET', `/v1/jobs/${encodeURIComponent(id)}/events`, undefined, { headers: { accept: 'text/event-stream' }, signal });
    if (!res.body) return;
    yield* readSse(res.body, signal);
  }
}

async function toApiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let env: ErrorEnvelope = {};
  try {
    env = JSON.parse(text) as ErrorEnvelope;
  } catch {
    // Not the API's envelope (a proxy's page): keep the status line.
  }
  const code = env.error?.code ?? `HTTP_${res.status}`;
  const message = env.error?.message ?? env.detail ?? (res.statusText || `HTTP ${res.status}`);
  return new ApiError(res.status, code, message, env.error?.request_id ?? res.headers.get('x-request-id'), env.error?.details);
}
