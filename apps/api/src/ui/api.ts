/**
 * How the VM page's server side does anything: it calls the API's own routes (the registry of
 * src/routes/index.ts, handlers and all) in-process, as the signed-in caller. Owner scoping, scopes,
 * validation and job submission are the routes' own; the page only renders what they answer.
 * Nothing here is reachable from outside: the app is never mounted, only `fetch`ed by src/ui/*.
 *
 * @example
 * const r = await api.call<VmPage>(caller, requestId, 'GET', '/v1/vms?region=r1');
 * await api.call<JobView>(caller, requestId, 'PUT', '/v1/vms/r1/web/tags', { body: { tags }, ifMatch: etag });
 * if (r.ok) render(r.body.vms); else show(r.error.message);
 */
import { Hono } from 'hono';
import { awaitOutcome } from '../answers.ts';
import type { AppEnv, Caller, Services } from '../context.ts';
import { notFound, onError } from '../errors.ts';
import { idempotency } from '../idempotency.ts';
import { mountRoutes } from '../route.ts';
import { ROUTES } from '../routes/index.ts';

/** What the in-process caller hands each request (Hono's `env`). */
interface Inner {
  caller: Caller;
  requestId: string;
}

export interface ApiFailure {
  code: string;
  message: string;
  details?: unknown;
}

/** A route's answer: its body (and ETag, when it sent one), or its error envelope's code, message and details. */
export type ApiResult<T> = { ok: true; status: number; body: T; etag?: string } | { ok: false; status: number; error: ApiFailure };

/** What a request carries besides its method and path. */
export interface CallOptions {
  body?: unknown;
  signal?: AbortSignal;
  idempotencyKey?: string;
  /** `If-Match`: the ETag of the read a write was built from. */
  ifMatch?: string;
}

/** Only ever fetched in-process; the host part of its URLs means nothing. */
const BASE = 'http://inner.invalid';

export class InnerApi {
  private readonly app = new Hono<AppEnv>();

  constructor(s: Services) {
    this.app.use('*', async (c, next) => {
      const inner = c.env as Inner;
      c.set('requestId', inner.requestId);
      c.set('logger', s.logger);
      c.set('caller', inner.caller);
      c.set('idempotency', undefined);
      await next();
    });
    // A form's Idempotency-Key (src/ui/layout.ts csrfField) is honoured as on the API: the same form sent twice makes one job.
    this.app.use(
      '*',
      idempotency(s, (c, job, ms) => awaitOutcome(s, c, job, ms)),
    );
    mountRoutes(this.app, ROUTES, s);
    this.app.onError(onError);
    this.app.notFound(notFound);
  }

  /** The raw answer of a route (an event stream is passed on as it comes). */
  fetch(caller: Caller, requestId: string, method: string, path: string, o: CallOptions = {}): Promise<Response> {
    const headers: Record<string, string> = o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {};
    if (o.ifMatch !== undefined) headers['if-match'] = o.ifMatch;
    const init: RequestInit = { method, headers, ...(o.signal ? { signal: o.signal } : {}) };
    if (o.body !== undefined) {
      init.body = JSON.stringify(o.body);
      headers['content-type'] = 'application/json';
    }
    return Promise.resolve(this.app.fetch(new Request(`${BASE}${path}`, init), { caller, requestId } satisfies Inner));
  }

  /** A route's JSON answer (text for text/plain), or its error envelope's code and message. */
  async call<T>(caller: Caller, requestId: string, method: string, path: string, o: CallOptions = {}): Promise<ApiResult<T>> {
    const res = await this.fetch(caller, requestId, method, path, o);
    const text = await res.text();
    const json = res.headers.get('content-type')?.includes('application/json');
    const etag = res.headers.get('etag');
    if (res.ok) return { ok: true, status: res.status, body: (json ? JSON.parse(text) : text) as T, ...(etag ? { etag } : {}) };
    const envelope = json ? (JSON.parse(text) as { error?: ApiFailure }) : {};
    return { ok: false, status: res.status, error: envelope.error ?? { code: 'INTERNAL', message: `status ${res.status}` } };
  }
}
