/**
 * The typed client of the Provisioner API: one method per operation of `/openapi.json` (the replaced
 * service's legacy routes aside; test/unit/parity.test.ts checks it), typed by the shared contracts
 * (`@provisioner/contracts/api`).
 *
 * - Every write sends an `Idempotency-Key`, made once per call and sent again on its retries, so a retry
 *   never queues a second job (the API answers a replay as it did the first time).
 * - 429 and 503 are retried after the `Retry-After` the API sent (else a growing backoff), at most
 *   `retries` times and never after a wait longer than `maxRetryDelayMs`: then the error is thrown.
 * - Failures are `ApiError` (status, code, message, request id, per-field problems) or `ConnectionError`.
 * - `waitForJob` follows a job's event stream, and polls the job when the stream cannot be had.
 *
 * Only `fetch`, `crypto.randomUUID` and `TextDecoder`: Node 20+ and browsers alike.
 */
import type {
  CordonInput,
  CreateInput,
  Deliveries,
  EndpointInput,
  ErrorBody,
  Health,
  HostCordonView,
  HostDrift,
  Images,
  JobListQuery,
  JobPage,
  JobView,
  Ready,
  RebootInput,
  RebuildInput,
  Redelivery,
  Region,
  ResizeInput,
  RotatedSecret,
  RotateInput,
  SnapshotInput,
  SnapshotItem,
  SnapshotList,
  StaleVersion,
  StopInput,
  VmItem,
  VmListQuery,
  VmPage,
  VmQuery,
  WebhookEndpoint,
  WebhookList,
} from '@provisioner/contracts/api';
import { ApiError, isApiError, toApiError, toConnectionError } from './errors.ts';
import { readSse, type SseEvent } from './sse.ts';

export type JobState = JobView['state'];
export const isTerminal = (s: JobState): boolean => s === 'succeeded' || s === 'failed' || s === 'canceled';

export interface ClientOptions {
  /** The API's base address, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** An API token (sent as `Authorization: Bearer …`). */
  token?: string;
  /** How many times a 429 or 503 is retried (default 3; 0 turns retries off). */
  retries?: number;
  /** The longest wait before a retry; an API asking for longer is not retried (default 30 s). */
  maxRetryDelayMs?: number;
  /** Another `fetch` (default: the global one). */
  fetch?: typeof fetch;
  /** Headers sent with every request (e.g. a `User-Agent`). */
  headers?: Record<string, string>;
}

/** Options of one call. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Options of one write. */
export interface WriteOptions extends CallOptions {
  /** The `Idempotency-Key` to send (default: a new random one per call, the same on its retries). */
  idempotencyKey?: string;
}

/**
 * Filters of `listVms`: the API's query (`VmListQuery` of the contract), every one optional, and `tag` also as
 * an object (`key=value` for each entry; as a list, `key=value` or `key`: all must match).
 */
export type ListVmsQuery = Partial<Omit<VmListQuery, 'tag'>> & { tag?: string[] | Record<string, string> };

/** Filters of `listJobs`: the API's query (`JobListQuery` of the contract), every one optional. */
export type ListJobsQuery = Partial<JobListQuery>;

/** One event of a job's stream: the job as it is now, or the stream's own error (`error`: read the job again). */
export type JobEvent =
  | { event: 'snapshot' | 'state' | 'step' | 'progress'; id: string | null; job: JobView }
  | { event: 'error'; id: string | null; error: StreamError };

/** The `error` event of a job's stream: the envelope's code (UNAVAILABLE, INTERNAL), message and request id. */
export type StreamError = Pick<ErrorBody['error'], 'code' | 'message'> & Partial<Pick<ErrorBody['error'], 'request_id'>>;

export interface WaitOptions extends CallOptions {
  /**
   * Called with each view of the job seen, and how: `start` (the job it starts from, as given or read
   * first), `sse` (an event of its stream) or `poll` (a read of the job).
   */
  onUpdate?: (job: JobView, via: 'start' | 'sse' | 'poll') => void;
  /** Follow the event stream (default true); false polls from the start. */
  sse?: boolean;
  /** Between two reads of the job when polling (default 1000 ms). */
  pollIntervalMs?: number;
}

type Query = Record<string, string | number | boolean | string[] | undefined>;

const enc = encodeURIComponent;
const vmPath = (region: string, name: string) => `/v1/vms/${enc(region)}/${enc(name)}`;
const hostPath = (region: string, host: string) => `/v1/regions/${enc(region)}/hosts/${enc(host)}`;

function queryString(q: Query): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) p.append(k, String(one));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class Client {
  readonly base: string;
  private readonly token: string | undefined;
  private readonly retries: number;
  private readonly maxRetryDelayMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly headers: Record<string, string>;

  constructor(o: ClientOptions) {
    this.base = o.url.replace(/\/+$/, '');
    this.token = o.token;
    this.retries = Math.max(0, o.retries ?? 3);
    this.maxRetryDelayMs = o.maxRetryDelayMs ?? 30_000;
    this.fetchImpl = o.fetch ?? ((input, init) => fetch(input, init));
    this.headers = o.headers ?? {};
  }

  // ---- Transport. ----

  /**
   * Sends one logical request: retried on 429/503 (bounded, after `Retry-After`), with the same
   * `Idempotency-Key` every time when it writes. Error statuses are thrown as ApiError.
   */
  async request(
    method: string,
    path: string,
    opts: { body?: unknown; accept?: string; signal?: AbortSignal; idempotencyKey?: string; ifMatch?: string } = {},
  ): Promise<Response> {
    const headers = new Headers(this.headers);
    if (this.token) headers.set('authorization', `Bearer ${this.token}`);
    if (opts.accept) headers.set('accept', opts.accept);
    if (opts.ifMatch !== undefined) headers.set('if-match', opts.ifMatch);
    if (opts.body !== undefined) headers.set('content-type', 'application/json');
    if (method !== 'GET') headers.set('idempotency-key', opts.idempotencyKey ?? globalThis.crypto.randomUUID());
    const body = opts.body !== undefined ? JSON.stringify(opts.body) : undefined;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetchImpl(`${this.base}${path}`, { method, headers, body, signal: opts.signal });
      } catch (e) {
        throw toConnectionError(this.base, e);
      }
      if (res.status < 400) return res;
      const err = await toApiError(res);
      const delay = this.retryDelay(err, attempt);
      if (delay === null) throw err;
      try {
        await sleep(delay, opts.signal);
      } catch (e) {
        throw toConnectionError(this.base, e);
      }
    }
  }

  /** How long to wait before retrying after `err` (the `attempt`-th failure), or null: do not retry. */
  private retryDelay(err: ApiError, attempt: number): number | null {
    if ((err.status !== 429 && err.status !== 503) || attempt >= this.retries) return null;
    const ms = err.retryAfterS !== null ? err.retryAfterS * 1000 : Math.min(8000, 250 * 2 ** attempt);
    return ms > this.maxRetryDelayMs ? null : ms;
  }

  private async json<T>(method: string, path: string, body?: unknown, o: WriteOptions & { ifMatch?: string } = {}): Promise<T> {
    const res = await this.request(method, path, { body, signal: o.signal, idempotencyKey: o.idempotencyKey, ifMatch: o.ifMatch });
    return (await res.json()) as T;
  }

  private get<T>(path: string, o?: CallOptions): Promise<T> {
    return this.json<T>('GET', path, undefined, o);
  }

  // ---- Health and catalog. ----

  /** `GET /health`: the API process is up. */
  health(o?: CallOptions): Promise<Health> {
    return this.get('/health', o);
  }

  /** `GET /ready`: Redis and the hosts as the API sees them (503 is thrown as ApiError after the retries). */
  ready(o?: CallOptions): Promise<Ready> {
    return this.get('/ready', o);
  }

  /** `GET /metrics`: the API's Prometheus metrics, as text (a `read` token). */
  async metrics(o?: CallOptions): Promise<string> {
    return (await this.request('GET', '/metrics', { signal: o?.signal })).text();
  }

  /** `GET /v1/regions`: regions with their instance types (`hosts: true`: each host's health, admin tokens). */
  regions(q: { hosts?: boolean } = {}, o?: CallOptions): Promise<Region[]> {
    return this.get(`/v1/regions${queryString({ hosts: q.hosts })}`, o);
  }

  /** `GET /v1/images`: the image catalog and each host's cache state. */
  async images(o?: CallOptions): Promise<Images['images']> {
    return (await this.get<Images>('/v1/images', o)).images;
  }

  // ---- VMs. ----

  /** `POST /v1/vms`: queues a create; answers its job. */
  createVm(body: CreateInput, o?: WriteOptions): Promise<JobView> {
    return this.json('POST', '/v1/vms', body, o);
  }

  /** `GET /v1/vms`: one page of VMs. `tag` as an object means `key=value` for each entry. */
  listVms(q: ListVmsQuery = {}, o?: CallOptions): Promise<VmPage> {
    const tag = Array.isArray(q.tag) ? q.tag : q.tag ? Object.entries(q.tag).map(([k, v]) => `${k}=${v}`) : undefined;
    return this.get(`/v1/vms${queryString({ ...q, tag })}`, o);
  }

  /** Every VM matching `q`, page after page (by cursor); `onPage` sees each page (its `hosts` warnings). */
  async listAllVms(q: Omit<ListVmsQuery, 'cursor' | 'offset'> = {}, o: CallOptions & { onPage?: (p: VmPage) => void } = {}): Promise<VmItem[]> {
    const out: VmItem[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await this.listVms({ limit: 500, ...q, cursor }, o);
      o.onPage?.(page);
      out.push(...page.vms);
      if (!page.next_cursor) return out;
      cursor = page.next_cursor;
    }
  }

  /** `GET /v1/vms/{region}/{name}` (`refresh`: list its host first). */
  getVm(region: string, name: string, q: Partial<VmQuery> = {}, o?: CallOptions): Promise<VmItem> {
    return this.get(`${vmPath(region, name)}${queryString({ refresh: q.refresh })}`, o);
  }

  /**
   * `GET /v1/vms/{region}/{name}` with its `ETag`: the version a write built from this read hands back
   * (`setTags`), so that write is refused (412) if the VM changed meanwhile. Throws when the answer has no
   * ETag (a proxy dropped it): a write must not be built from a read it cannot name.
   */
  async getVmWithEtag(region: string, name: string, q: Partial<VmQuery> = {}, o?: CallOptions): Promise<{ vm: VmItem; etag: string }> {
    const res = await this.request('GET', `${vmPath(region, name)}${queryString({ refresh: q.refresh })}`, { signal: o?.signal });
    const etag = res.headers.get('etag');
    const vm = (await res.json()) as VmItem;
    if (!etag)
      throw new ApiError(res.status, `HTTP_${res.status}`, 'the answer has no ETag header (a proxy may drop it)', res.headers.get('x-request-id'), undefined);
    return { vm, etag };
  }

  /** `GET /v1/vms/{region}/{name}/console`: the end of its serial console log, as text. */
  async console(region: string, name: string, q: { tailBytes?: number } = {}, o?: CallOptions): Promise<string> {
    const res = await this.request('GET', `${vmPath(region, name)}/console${queryString({ tail_bytes: q.tailBytes })}`, { signal: o?.signal });
    return res.text();
  }

  startVm(region: string, name: string, body: { webhook_url?: string } = {}, o?: WriteOptions): Promise<JobView> {
    return this.json('POST', `${vmPath(region, name)}/start`, body, o);
  }

  stopVm(region: string, name: string, body: StopInput = {}, o?: WriteOptions): Promise<JobView> {
    return this.json('POST', `${vmPath(region, name)}/stop`, body, o);
  }

  rebootVm(region: string, name: string, body: RebootInput = {}, o?: WriteOptions): Promise<JobView> {
    return this.json('POST', `${vmPath(region, name)}/reboot`, body, o);
  }

  resizeVm(region: string, name: string, body: ResizeInput, o?: WriteOptions): Promise<JobView> {
    return this.json('POST', `${vmPath(region, name)}/resize`, body, o);
  }

  rebuildVm(region: string, name: string, body: RebuildInput = {}, o?: WriteOptions): Promise<JobView> {
    return this.json('POST', `${vmPath(region, name)}/rebuild`, body, o);
  }

  /**
   * `PUT /v1/vms/{region}/{name}/tags`: replaces all of its tags, sent with `If-Match: etag`, the ETag of the
   * read the tags were built from (`getVmWithEtag`). When the VM changed since, the API refuses with 412:
   * an `ApiError` with code `PRECONDITION_FAILED` whose `staleVersionOf(e)` gives the current tags and ETag.
   * `'*'` replaces the tags whatever they are now (a deliberate overwrite, e.g. `retag`).
   */
  setTags(region: string, name: string, tags: Record<string, string>, etag: string, o?: WriteOptions & { webhook_url?: string }): Promise<JobView> {
    const body = { tags, ...(o?.webhook_url ? { webhook_url: o.webhook_url } : {}) };
    return this.json('PUT', `${vmPath(region, name)}/tags`, body, { ...o, ifMatch: etag });
  }

  /**
   * Reads the VM's tags, applies `change` and writes the result with `If-Match`; when another write came
   * first (412), applies `change` again to the tags that write left, at most `attempts` times in all
   * (default 3). Answers the tag edit's job. E.g. add a tag: `editTags(r, n, (t) => ({ ...t, stage: 'test' }))`.
   */
  async editTags(
    region: string,
    name: string,
    change: (tags: Record<string, string>) => Record<string, string>,
    o: WriteOptions & { webhook_url?: string; attempts?: number } = {},
  ): Promise<JobView> {
    let { vm, etag } = await this.getVmWithEtag(region, name, {}, o);
    let tags = vm.tags;
    for (let attempt = 1; ; attempt++) {
      try {
        // A later attempt is another request (other tags, another If-Match): its own Idempotency-Key.
        return await this.setTags(region, name, change({ ...tags }), etag, { ...o, idempotencyKey: attempt === 1 ? o.idempotencyKey : undefined });
      } catch (e) {
        const now = staleVersionOf(e);
        if (!now || attempt >= (o.attempts ?? 3)) throw e;
        ({ tags, etag } = now);
      }
    }
  }

  deleteVm(region: string, name: string, o?: WriteOptions): Promise<JobView> {
    return this.json('DELETE', vmPath(region, name), undefined, o);
  }

  // ---- Snapshots. ----

  createSnapshot(region: string, name: string, body: SnapshotInput, o?: WriteOptions): Promise<JobView> {
    return this.json('POST', `${vmPath(region, name)}/snapshots`, body, o);
  }

  async listSnapshots(region: string, name: string, o?: CallOptions): Promise<SnapshotItem[]> {
    return (await this.get<SnapshotList>(`${vmPath(region, name)}/snapshots`, o)).snapshots;
  }

  revertSnapshot(region: string, name: string, snapshot: string, o?: WriteOptions): Promise<JobView> {
    return this.json('POST', `${vmPath(region, name)}/snapshots/${enc(snapshot)}/revert`, {}, o);
  }

  deleteSnapshot(region: string, name: string, snapshot: string, o?: WriteOptions): Promise<JobView> {
    return this.json('DELETE', `${vmPath(region, name)}/snapshots/${enc(snapshot)}`, undefined, o);
  }

  // ---- Jobs. ----

  getJob(id: string, o?: CallOptions): Promise<JobView> {
    return this.get(`/v1/jobs/${enc(id)}`, o);
  }

  listJobs(q: ListJobsQuery = {}, o?: CallOptions): Promise<JobPage> {
    return this.get(`/v1/jobs${queryString({ ...q })}`, o);
  }

  cancelJob(id: string, o?: WriteOptions): Promise<JobView> {
    return this.json('POST', `/v1/jobs/${enc(id)}/cancel`, {}, o);
  }

  /** `GET /v1/jobs/{id}/events`: each event of the job's stream until it closes (or `signal` aborts). */
  async *jobEvents(id: string, o: CallOptions = {}): AsyncGenerator<JobEvent> {
    const res = await this.request('GET', `/v1/jobs/${enc(id)}/events`, { accept: 'text/event-stream', signal: o.signal });
    const type = res.headers.get('content-type') ?? '';
    if (!res.body || !type.startsWith('text/event-stream')) {
      await res.body?.cancel().catch(() => undefined);
      throw new ApiError(res.status, `HTTP_${res.status}`, `expected an event stream, got ${type || 'no body'}`, res.headers.get('x-request-id'), undefined);
    }
    for await (const ev of readSse(res.body, o.signal)) yield toJobEvent(ev);
  }

  /**
   * Follows a job until it ends (succeeded, failed or canceled) and answers its last view. Reads its
   * event stream; a stream that ends early (the API restarted, a proxy cut it) is followed by a read of
   * the job and a new stream. When the stream cannot be had at all (refused by a proxy, not an event
   * stream, the connection dropped), the job is polled every `pollIntervalMs` instead.
   */
  async waitForJob(job: string | JobView, o: WaitOptions = {}): Promise<JobView> {
    let view = typeof job === 'string' ? await this.getJob(job, o) : job;
    const seen = (v: JobView, via: 'sse' | 'poll') => {
      view = v;
      o.onUpdate?.(v, via);
    };
    o.onUpdate?.(view, 'start');
    let sse = o.sse !== false;
    for (let round = 0; !isTerminal(view.state); round++) {
      if (sse) {
        const ac = new AbortController();
        const abort = () => ac.abort();
        o.signal?.addEventListener('abort', abort, { once: true });
        try {
          for await (const ev of this.jobEvents(view.id, { signal: ac.signal })) {
            if (ev.event === 'error') break;
            seen(ev.job, 'sse');
            if (isTerminal(ev.job.state)) break;
          }
        } catch (e) {
          if (o.signal?.aborted) throw toConnectionError(this.base, o.signal.reason);
          // A 404 is the job's own answer (gone, or not this token's): the read below throws it.
          if (!isApiError(e, 'NOT_FOUND')) sse = false;
        } finally {
          o.signal?.removeEventListener('abort', abort);
          ac.abort();
        }
        if (isTerminal(view.state)) break;
      }
      seen(await this.getJob(view.id, o), 'poll');
      if (!isTerminal(view.state))
        await sleep(sse ? Math.min(5000, 500 * (round + 1)) : (o.pollIntervalMs ?? 1000), o.signal).catch((e) => {
          throw toConnectionError(this.base, e);
        });
    }
    return view;
  }

  // ---- Hosts (admin). ----

  cordonHost(region: string, host: string, body: CordonInput = {}, o?: WriteOptions): Promise<HostCordonView> {
    return this.json('POST', `${hostPath(region, host)}/cordon`, body, o);
  }

  uncordonHost(region: string, host: string, o?: WriteOptions): Promise<HostCordonView> {
    return this.json('POST', `${hostPath(region, host)}/uncordon`, {}, o);
  }

  hostDrift(region: string, host: string, o?: CallOptions): Promise<HostDrift> {
    return this.get(`${hostPath(region, host)}/drift`, o);
  }

  /** `POST …/drift/clean`: a job that removes the host's leftovers. */
  cleanDrift(region: string, host: string, o?: WriteOptions): Promise<JobView> {
    return this.json('POST', `${hostPath(region, host)}/drift/clean`, {}, o);
  }

  // ---- Webhooks. ----

  /** `POST /v1/webhooks` (admin): the endpoint with its signing secret (shown only here). */
  createWebhook(body: EndpointInput, o?: WriteOptions): Promise<WebhookEndpoint & { secret: string }> {
    return this.json('POST', '/v1/webhooks', body, o);
  }

  async listWebhooks(o?: CallOptions): Promise<WebhookEndpoint[]> {
    return (await this.get<WebhookList>('/v1/webhooks', o)).webhooks;
  }

  async deleteWebhook(id: string, o?: WriteOptions): Promise<void> {
    const res = await this.request('DELETE', `/v1/webhooks/${enc(id)}`, { signal: o?.signal, idempotencyKey: o?.idempotencyKey });
    await res.body?.cancel().catch(() => undefined);
  }

  /** A new secret; with `overlap_seconds` the old one keeps signing beside it for that long. */
  rotateWebhookSecret(id: string, body: RotateInput = {}, o?: WriteOptions): Promise<RotatedSecret> {
    return this.json('POST', `/v1/webhooks/${enc(id)}/rotate-secret`, body, o);
  }

  /** `DELETE /v1/tokens/{name}/sessions`: ends every browser session (VM page, dashboard) the token signed in to. */
  signOutEverywhere(token: string, o?: WriteOptions): Promise<{ token: string; sessions_ended: number }> {
    return this.json('DELETE', `/v1/tokens/${enc(token)}/sessions`, undefined, o);
  }

  deliveries(jobId: string, o?: CallOptions): Promise<Deliveries> {
    return this.get(`/v1/jobs/${enc(jobId)}/deliveries`, o);
  }

  redeliver(jobId: string, deliveryId: string, o?: WriteOptions): Promise<Redelivery> {
    return this.json('POST', `/v1/jobs/${enc(jobId)}/deliveries/${enc(deliveryId)}/redeliver`, {}, o);
  }
}

/** The VM's current tags and ETag when `e` is the API's 412 to a write with a stale `If-Match`, else null. */
export function staleVersionOf(e: unknown): StaleVersion | null {
  if (!isApiError(e, 'PRECONDITION_FAILED')) return null;
  const d = e.details as Partial<StaleVersion> | undefined;
  return d && typeof d.etag === 'string' && d.tags && typeof d.tags === 'object' ? { etag: d.etag, tags: d.tags } : null;
}

function toJobEvent(ev: SseEvent): JobEvent {
  const data = JSON.parse(ev.data) as unknown;
  if (ev.event === 'error') return { event: 'error', id: ev.id, error: data as StreamError };
  return { event: ev.event as 'state', id: ev.id, job: data as JobView };
}
