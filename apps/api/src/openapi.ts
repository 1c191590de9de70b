/**
 * The OpenAPI 3.1 description of the API, built from the same zod schemas the routes validate with
 * (request bodies and queries) and from the response schemas below. `ROUTES` is the registry: one
 * entry per route the app serves (a test compares it with the router), legacy routes tagged
 * `legacy`. Errors are documented per route from the closed set of error codes.
 */
import { JOB_KINDS, JOB_STATES, VM_STATES } from '@provisioner/contracts';
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponseObject } from 'zod-openapi';
import { CallbackBody } from './callbacks.ts';
import { ERROR_STATUS, type ErrorCode } from './errors.ts';
import { CreateBody } from './ops.ts';
import { HOST_READINESS } from './routes/health.ts';
import { JobsQuery } from './routes/jobs.ts';
import { LegacyEditTags, LegacyTarget } from './routes/legacy.ts';
import { ListQuery, RebootBody, StopBody, TagsBody } from './routes/vms.ts';
import { EndpointBody } from './routes/webhooks.ts';

// ---- Response schemas (what the handlers answer; the request schemas are the routes' own). ----

const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      request_id: z.string().meta({ description: 'The X-Request-Id of the request' }),
      job_id: z.string().optional().meta({ description: 'The job concerned (legacy routes: the job that failed or is still running)' }),
      details: z.unknown().optional().meta({ description: 'Per-field problems (`[{path, message}]`) or the job error' }),
    }),
    detail: z.string().meta({ description: 'Same as error.message: what the replaced service’s clients read' }),
  })
  .meta({ description: 'The one error envelope of every route' });

const StepView = z.object({
  name: z.string().meta({ example: 'stop' }),
  state: z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped']),
  started_at: z.string().nullable().meta({ example: '2026-01-05T10:15:02.114Z' }),
  finished_at: z.string().nullable().meta({ example: null }),
  detail: z.string().optional().meta({
    description: 'While the step runs: what it waits for, kept current (absent when there is nothing to say)',
    example: 'graceful shutdown; forcing in 47 s',
  }),
});

const JobError = z.object({ code: z.string(), message: z.string(), retryable: z.boolean() });

const JobView = z
  .object({
    id: z.string().meta({ example: 'job_8f14e45fceea167a5a36dedd4bea2543' }),
    kind: z.enum(JOB_KINDS).meta({ example: 'stop' }),
    target: z.object({
      region: z.string().meta({ example: 'local' }),
      vm_name: z.string().nullable().meta({ example: 'amber-otter', description: 'null for jobs about a host (refresh, image-cache)' }),
      host: z.string().meta({ example: 'local-1' }),
    }),
    state: z.enum(JOB_STATES).meta({ example: 'running' }),
    progress: z.number().min(0).max(100).meta({ example: 0 }),
    step: z.string().nullable().meta({ description: 'The step running now', example: 'stop' }),
    steps: z.array(StepView),
    attempts: z.number().int().meta({ example: 1 }),
    created_at: z.string().meta({ example: '2026-01-05T10:15:01.870Z' }),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    error: JobError.nullable(),
    result: z.unknown().meta({ description: 'What the job produced (e.g. the VM after a create), once succeeded' }),
    request_id: z
      .string()
      .nullable()
      .meta({ description: 'The X-Request-Id of the request that submitted the job (null for scheduled jobs): find its log lines by it' }),
    links: z.object({ self: z.string(), events: z.string(), cancel: z.string() }),
  })
  .meta({ description: 'An operation and its progress (the job contract: docs/architecture.md)' });

const HostStatus = z.object({
  region: z.string(),
  host: z.string(),
  observed_at: z.string().nullable().meta({ description: 'When the host was last listed' }),
  error: z.string().nullable(),
});

const VmItem = z.object({
  vm_name: z.string().meta({ example: 'amber-otter' }),
  region_name: z.string().meta({ example: 'local' }),
  host: z.string().meta({ example: 'local-1' }),
  dom_id: z.number().int().nullable().meta({ example: 7 }),
  state: z.enum([...VM_STATES, 'pending']).meta({
    description:
      'libvirt’s state text as `virsh domstate` prints it, or `pending` before its create ran. It changes when an operation is done and the host listed again; `transition` says what is under way.',
    example: 'running',
  }),
  managed: z.boolean().meta({ description: 'Created by this service (others are listed, not managed)' }),
  tags: z.record(z.string(), z.string()).meta({ example: { owner: 'alice' } }),
  ip: z.string().nullable().meta({ example: '192.168.122.23' }),
  vcpus: z.number().int().nullable().meta({ example: 1 }),
  memory_mb: z.number().int().nullable().meta({ example: 256 }),
  image: z.string().nullable().meta({ example: 'tiny' }),
  instance_type: z.string().nullable().meta({ example: 'small' }),
  observed_at: z.string().nullable().meta({ example: '2026-01-05T10:15:00.512Z' }),
  transition: z
    .object({
      kind: z.enum(JOB_KINDS).meta({ example: 'stop' }),
      job_id: z.string().meta({ example: 'job_8f14e45fceea167a5a36dedd4bea2543' }),
      detail: z.string().nullable().meta({ description: 'The running step’s detail, else its name', example: 'graceful shutdown; forcing in 47 s' }),
    })
    .nullable()
    .meta({ description: 'The operation working on the VM right now (its job), null when none runs' }),
});

const VmPage = z.object({
  vms: z.array(VmItem),
  total: z.number().int(),
  limit: z.number().int(),
  next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last' }),
  hosts: z.array(HostStatus),
});

const JobPage = z.object({ jobs: z.array(JobView), limit: z.number().int(), offset: z.number().int(), next_offset: z.number().int().nullable() });

const n = z.number().int().nullable();
const RegionHost = z.object({
  host: z.string(),
  observed_at: z.string().nullable(),
  error: z.string().nullable(),
  cpus: n,
  memory_mb: n,
  kvm: z.boolean().nullable(),
  info_observed_at: z.string().nullable(),
  capacity: z.object({
    vms: z.number().int(),
    max_vms: n,
    vcpus_used: z.number().int(),
    vcpus_total: n.describe('CPUs × cpu_allocation_ratio − reserved_vcpus (null until a worker published host info)'),
    memory_mb_used: z.number().int(),
    memory_mb_total: n,
    disk_free_mb: n,
    queued_ops: z.number().int(),
    max_concurrent_operations: z.number().int(),
  }),
});
const Region = z.object({
  region_name: z.string(),
  enabled: z.boolean(),
  available_instance_types: z.array(
    z.object({ instance_type: z.string(), vcpus: z.number().int(), memory_mb: z.number().int(), storage_mb: z.number().int() }),
  ),
  hosts: z.array(RegionHost).nullable().optional().describe('with ?hosts=true (admin tokens only): each host’s health and capacity as placement counts it'),
});

const ImageHostState = z.object({
  region: z.string(),
  host: z.string(),
  cached: z.boolean().nullable().describe('null until the host’s image-cache job has run'),
  sha256: z.string().nullable(),
  size_bytes: z.number().int().nullable(),
  verified: z.boolean().nullable().describe('content re-hashed (or downloaded) and matching on the last check'),
  error: z.string().nullable(),
  checked_at: z.string().nullable(),
});
const Images = z.object({ images: z.array(z.object({ name: z.string(), sha256: z.string().nullable(), hosts: z.array(ImageHostState) })) });
const LegacyImages = z.object({ images: z.array(z.string()) });
const LegacySuccess = z.object({ message: z.literal('Success') });
const LegacyListItem = z.object({
  dom_id: z.string().meta({ description: 'The libvirt domain id, `-` when not running' }),
  name: z.string(),
  region_name: z.string(),
  state: z.string(),
  tags: z.record(z.string(), z.string()),
});
const Health = z.object({ status: z.literal('healthy') });
const ReadyHost = z.object({
  region: z.string(),
  host: z.string(),
  status: z.enum(HOST_READINESS).meta({
    description: '`ok`; `unreachable` (its last listing failed); `stale` (not listed for three refresh periods); `unknown` (never listed yet)',
  }),
  observed_at: z.string().nullable().meta({ description: 'When the host was last listed' }),
});
const Ready = z.object({ status: z.literal('ready'), redis: z.literal('ok'), hosts: z.array(ReadyHost) });

const VmPath = z.object({
  region: z.string().meta({ description: 'A configured region', example: 'local' }),
  name: z.string().meta({ description: 'The VM name (a lowercase DNS label)', example: 'amber-otter' }),
});
const JobPath = z.object({ id: z.string().meta({ description: 'A job id (`job_…`)', example: 'job_8f14e45fceea167a5a36dedd4bea2543' }) });

const WebhookEndpoint = z.object({
  id: z.string().meta({ example: 'whk_1f0e3dad99908345f7439f8ffabdffc4' }),
  url: z.string(),
  events: z.array(z.enum(['job.succeeded', 'job.failed', 'job.canceled', 'job.progress'])),
  created_at: z.string(),
  created_by: z.string().meta({ description: 'The name of the token that registered it' }),
  disabled_at: z.string().nullable().meta({ description: 'Set when the receiver answered 410 Gone: nothing more is sent' }),
  disabled_reason: z.string().nullable(),
});
const WebhookSecret = z.string().meta({ description: 'The signing secret (`whsec_` + base64), shown only in this answer' });
const DeliveryAttempt = z.object({
  attempt: z.number().int(),
  redelivery: z.boolean(),
  at: z.string(),
  status_code: z.number().int().nullable().meta({ description: 'The receiver’s status; null when no answer (timeout, network error, refused)' }),
  duration_ms: z.number().int(),
  error: z.string().nullable().meta({ description: 'Why it failed, e.g. `HTTP 500`, `timeout after 10000 ms`, `refused: 127.0.0.1 is a loopback address`' }),
  outcome: z.enum(['delivered', 'retrying', 'failed', 'refused', 'skipped']),
});
const Deliveries = z.object({
  job_id: z.string(),
  deliveries: z.array(
    z.object({
      id: z.string().meta({ description: 'The `webhook-id` header, the same on every attempt and redelivery' }),
      type: z.string().nullable(),
      endpoint_id: z.string().nullable().meta({ description: 'The registered endpoint; null for the job’s own `webhook_url`' }),
      url: z.string().nullable().meta({
        description:
          'Without its query string; shown to admin tokens only (null for others: a chat webhook’s URL holds its secret), who see the endpoint as `endpoint_id`',
      }),
      state: z.enum(['pending', 'delivered', 'retrying', 'failed', 'refused', 'skipped']),
      attempts: z.array(DeliveryAttempt),
    }),
  ),
});
const WebhookPath = z.object({ id: z.string().meta({ description: 'An endpoint id (`whk_…`)' }) });
const WEBHOOK_NOTE =
  'Deliveries are POSTs of `{"type","timestamp","data": <the job as GET /v1/jobs/{id} shows it>}` with Standard Webhooks headers `webhook-id`, `webhook-timestamp`, `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`). Any 2xx is success; others are retried with exponential backoff; 410 disables the endpoint. Private, loopback, link-local and reserved addresses are refused when connecting unless the configuration allows them.';

// ---- The registry. ----

type Method = 'get' | 'post' | 'put' | 'delete' | 'patch';

export interface RouteDoc {
  method: Method;
  /** OpenAPI style: `/v1/vms/{region}/{name}`. */
  path: string;
  tag: 'vms' | 'jobs' | 'webhooks' | 'catalog' | 'health' | 'metrics' | 'legacy';
  summary: string;
  description?: string;
  /** No token needed (the open routes of middleware.ts). */
  open?: boolean;
  /** Answers without Redis (no 503 for a Redis outage). */
  withoutRedis?: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The body may be left out (`{}` is assumed). */
  bodyOptional?: boolean;
  ok: { status: number; description: string; schema?: z.ZodType; sse?: boolean; text?: string; headers?: Record<string, string> };
  /** Errors particular to the route; auth, body, Redis and 500 errors are added from the flags above. */
  errors?: ErrorCode[];
}

const ACCEPTED_HEADERS = { Location: 'Where to follow the job (`/v1/jobs/{id}`)', 'Retry-After': 'Seconds before looking again' };
const LEGACY_NOTE =
  'Legacy route of the replaced service (docs/legacy-api.md), kept unchanged for its clients (the chat bot): it waits for the job and answers `{"message":"Success"}`, the job’s failure as an error status, or 504 with the job id when the wait runs out (the job goes on). New clients use the `/v1/vms` routes.';

function legacy(d: Omit<RouteDoc, 'tag'>): RouteDoc {
  return { ...d, tag: 'legacy', description: `${d.description ? `${d.description}\n\n` : ''}${LEGACY_NOTE}` };
}

const vmOp = (path: string, method: Method, summary: string, body?: z.ZodType): RouteDoc => ({
  method,
  path: `/v1/vms/{region}/{name}${path}`,
  tag: 'vms',
  summary,
  params: VmPath,
  ...(body ? { body, bodyOptional: true } : {}),
  ok: { status: 202, description: 'Accepted: the job that does it', schema: JobView, headers: ACCEPTED_HEADERS },
  errors: ['NOT_FOUND', 'VALIDATION'],
});

export const ROUTES: RouteDoc[] = [
  {
    method: 'get',
    path: '/health',
    tag: 'health',
    summary: 'Liveness',
    open: true,
    withoutRedis: true,
    ok: { status: 200, description: 'Alive', schema: Health },
  },
  {
    method: 'get',
    path: '/ready',
    tag: 'health',
    summary: 'Readiness: Redis answers; each host’s last known status',
    description:
      'A host that is down does not make the API unready. Open, so it gives each host’s status only: why a host fails is in `GET /v1/vms` (read) and `GET /v1/regions?hosts=true` (admin).',
    open: true,
    withoutRedis: true,
    ok: { status: 200, description: 'Ready', schema: Ready },
    errors: ['UNAVAILABLE'],
  },
  {
    method: 'get',
    path: '/v1/regions',
    tag: 'catalog',
    summary: 'Regions and their instance types',
    description: 'With `hosts=true` (admin tokens), each host’s health and capacity as placement counts it.',
    withoutRedis: true,
    query: z.object({ hosts: z.enum(['true', 'false']).optional() }),
    ok: { status: 200, description: 'Enabled regions', schema: z.array(Region) },
    errors: ['FORBIDDEN'],
  },
  {
    method: 'get',
    path: '/v1/images',
    tag: 'catalog',
    summary: 'The image catalog (names and checksums) and each host’s cache of it',
    withoutRedis: true,
    ok: { status: 200, description: 'Images', schema: Images },
  },
  legacy({
    method: 'get',
    path: '/v1/get-images',
    summary: 'Image names (legacy, open)',
    open: true,
    withoutRedis: true,
    ok: { status: 200, description: 'Image names', schema: LegacyImages },
  }),
  {
    method: 'post',
    path: '/v1/vms',
    tag: 'vms',
    summary: 'Create a VM',
    description:
      'Validates against the configuration, picks a host, reserves the name and queues a `create` job. `user_data` is base64 of one YAML document (cloud-init); it is stored encrypted and never returned.',
    body: CreateBody,
    ok: { status: 202, description: 'Accepted: the create job', schema: JobView, headers: ACCEPTED_HEADERS },
    errors: ['CONFLICT', 'VALIDATION'],
  },
  {
    method: 'get',
    path: '/v1/vms',
    tag: 'vms',
    summary: 'List VMs (from the inventory)',
    description: 'Sorted by region, name, host. `refresh=true` lists the hosts first (bounded by `refresh_wait_ms`).',
    query: ListQuery,
    ok: { status: 200, description: 'A page of VMs', schema: VmPage },
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'VALIDATION'],
  },
  {
    method: 'get',
    path: '/v1/vms/{region}/{name}',
    tag: 'vms',
    summary: 'Read one VM',
    params: VmPath,
    query: z.object({ refresh: z.enum(['true', 'false', '1', '0']).optional() }),
    ok: { status: 200, description: 'The VM', schema: VmItem },
    errors: ['NOT_FOUND', 'VALIDATION'],
  },
  vmOp('/start', 'post', 'Start a VM', CallbackBody),
  vmOp('/stop', 'post', 'Stop a VM (shutdown, then power off after timeout_ms; or at once with force)', StopBody),
  vmOp('/reboot', 'post', 'Reboot a VM', RebootBody),
  { ...vmOp('/tags', 'put', 'Replace a VM’s tags', TagsBody), bodyOptional: false },
  vmOp('', 'delete', 'Delete a VM and its disks', CallbackBody),
  {
    method: 'get',
    path: '/v1/jobs',
    tag: 'jobs',
    summary: 'List jobs, newest first',
    query: JobsQuery,
    ok: { status: 200, description: 'A page of jobs', schema: JobPage },
    errors: ['VALIDATION'],
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}',
    tag: 'jobs',
    summary: 'Read one job',
    params: JobPath,
    ok: { status: 200, description: 'The job', schema: JobView },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}/events',
    tag: 'jobs',
    summary: 'Follow a job (Server-Sent Events)',
    description:
      'One event per change of the job, each with an `id:` counting from 0 and `data:` the whole job view as JSON, until the job ends (the stream closes after the terminal state). Event names: `snapshot` (first, the job as it is when the stream opens), `state` (its state, attempts or error changed: e.g. `queued` → `running`, or the end), `step` (a step started or ended, or the running step’s `detail` changed), `progress` (only the percentage moved, e.g. during an image download), and `error` (`data: {code, message, request_id}`: the stream was interrupted; read the job again). `: keep-alive` comments come every 15 s in between.',
    params: JobPath,
    ok: { status: 200, description: 'An event stream', sse: true },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'post',
    path: '/v1/jobs/{id}/cancel',
    tag: 'jobs',
    summary: 'Cancel a job',
    description:
      'A queued job ends `canceled` at once and never runs (200, the canceled job). A running one is stopped on whichever worker runs it: its remote command is killed, a create’s partial work (domain, disk, seed) removed, and it ends `canceled` without retries (202: follow the job). 409 when the job has already ended.',
    params: JobPath,
    ok: {
      status: 202,
      description: 'Cancellation under way (200 when the job was queued and is canceled already)',
      schema: JobView,
      headers: { Location: 'The job' },
    },
    errors: ['NOT_FOUND', 'CONFLICT'],
  },
  {
    method: 'post',
    path: '/v1/webhooks',
    tag: 'webhooks',
    summary: 'Register a webhook endpoint (admin)',
    description: WEBHOOK_NOTE,
    body: EndpointBody,
    ok: {
      status: 201,
      description: 'Registered; the secret is in this answer only',
      schema: WebhookEndpoint.extend({ secret: WebhookSecret }),
      headers: { Location: 'The endpoint' },
    },
  },
  {
    method: 'get',
    path: '/v1/webhooks',
    tag: 'webhooks',
    summary: 'List webhook endpoints (admin; no secrets)',
    ok: { status: 200, description: 'Endpoints', schema: z.object({ webhooks: z.array(WebhookEndpoint) }) },
  },
  {
    method: 'delete',
    path: '/v1/webhooks/{id}',
    tag: 'webhooks',
    summary: 'Delete a webhook endpoint (admin)',
    params: WebhookPath,
    ok: { status: 204, description: 'Deleted' },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'post',
    path: '/v1/webhooks/{id}/rotate-secret',
    tag: 'webhooks',
    summary: 'Give a webhook endpoint a new secret (admin)',
    description: 'The old secret stops signing at once.',
    params: WebhookPath,
    ok: { status: 200, description: 'The new secret (shown only here)', schema: z.object({ id: z.string(), secret: WebhookSecret }) },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/jobs/{id}/deliveries',
    tag: 'webhooks',
    summary: 'A job’s webhook deliveries, with every attempt',
    params: JobPath,
    ok: { status: 200, description: 'Deliveries, oldest first', schema: Deliveries },
    errors: ['NOT_FOUND'],
  },
  {
    method: 'post',
    path: '/v1/jobs/{id}/deliveries/{delivery}/redeliver',
    tag: 'webhooks',
    summary: 'Send a delivery again (same webhook-id and body)',
    params: JobPath.extend({ delivery: z.string().meta({ description: 'A delivery id (`msg_…`)' }) }),
    ok: {
      status: 202,
      description: 'Queued',
      schema: z.object({ job_id: z.string(), delivery_id: z.string(), state: z.literal('queued'), links: z.object({ deliveries: z.string() }) }),
    },
    errors: ['NOT_FOUND', 'CONFLICT'],
  },
  legacy({
    method: 'post',
    path: '/v1/create',
    summary: 'Create a VM and wait (legacy)',
    body: CreateBody,
    ok: { status: 200, description: 'Created', schema: LegacySuccess },
    errors: ['CONFLICT', 'VALIDATION', 'NOT_FOUND', 'JOB_FAILED', 'TIMEOUT'],
  }),
  legacy({
    method: 'get',
    path: '/v1/list',
    summary: 'List VMs after a fresh listing of every host (legacy)',
    ok: { status: 200, description: 'Every VM', schema: z.array(LegacyListItem) },
  }),
  legacy({
    method: 'post',
    path: '/v1/start',
    summary: 'Start a VM and wait (legacy)',
    body: LegacyTarget,
    ok: { status: 200, description: 'Started', schema: LegacySuccess },
    errors: ['NOT_FOUND', 'VALIDATION', 'CONFLICT', 'JOB_FAILED', 'TIMEOUT'],
  }),
  legacy({
    method: 'post',
    path: '/v1/stop',
    summary: 'Power a VM off and wait (legacy: `virsh destroy`)',
    body: LegacyTarget,
    ok: { status: 200, description: 'Stopped', schema: LegacySuccess },
    errors: ['NOT_FOUND', 'VALIDATION', 'CONFLICT', 'JOB_FAILED', 'TIMEOUT'],
  }),
  legacy({
    method: 'post',
    path: '/v1/edit-tags',
    summary: 'Replace a VM’s tags and wait (legacy)',
    body: LegacyEditTags,
    ok: { status: 200, description: 'Tags replaced', schema: LegacySuccess },
    errors: ['NOT_FOUND', 'VALIDATION', 'CONFLICT', 'JOB_FAILED', 'TIMEOUT'],
  }),
  legacy({
    method: 'delete',
    path: '/v1/delete',
    summary: 'Delete a VM and wait (legacy; a VM no host knows counts as deleted)',
    body: LegacyTarget,
    ok: { status: 200, description: 'Deleted (or already gone)', schema: LegacySuccess },
    errors: ['VALIDATION', 'CONFLICT', 'JOB_FAILED', 'TIMEOUT'],
  }),
  {
    method: 'get',
    path: '/metrics',
    tag: 'metrics',
    summary: 'Prometheus metrics of this API process',
    description:
      'Prometheus text exposition: requests, latencies, jobs submitted, queue depth and the oldest waiting job per queue (docs/metrics.md). Needs the `read` scope; owner-bound tokens are refused. Served while Redis is down, without the queue series.',
    withoutRedis: true,
    ok: { status: 200, description: 'The metrics', text: 'text/plain; version=0.0.4' },
  },
];

// ---- Building the document. ----

const ERROR_TEXT: Record<number, string> = {
  400: 'Malformed request (body not JSON or not an object, bad cursor)',
  401: 'Missing or invalid token',
  403: 'The token lacks the scope',
  404: 'Not found',
  409: 'Conflict (the name is taken, or the job was canceled)',
  413: 'Body larger than max_body_bytes',
  422: 'Breaks the schema or names something the configuration does not have',
  429: 'Too many requests',
  500: 'Internal error (logged; no details given)',
  502: 'The job failed on the host',
  503: 'Redis (the job store) is unavailable',
  504: 'The job did not finish within the wait; it goes on (follow error.job_id)',
};

/** Every error code a route can answer, from its own list and its flags. */
export function routeErrors(r: RouteDoc): ErrorCode[] {
  const codes = new Set<ErrorCode>(r.errors ?? []);
  if (!r.open) codes.add('UNAUTHORIZED').add('FORBIDDEN');
  if (r.body) codes.add('BAD_REQUEST').add('PAYLOAD_TOO_LARGE').add('VALIDATION');
  if (!r.withoutRedis) codes.add('UNAVAILABLE');
  if ((ERROR_STATUS as Record<string, number>).RATE_LIMITED && !r.open) codes.add('RATE_LIMITED' as ErrorCode);
  codes.add('INTERNAL');
  return [...codes];
}

function operation(r: RouteDoc): ZodOpenApiOperationObject {
  const json = (schema: z.ZodType) => ({ 'application/json': { schema } });
  const responses: Record<string, ZodOpenApiResponseObject> = {
    [String(r.ok.status)]: {
      description: r.ok.description,
      ...(r.ok.headers
        ? { headers: z.object(Object.fromEntries(Object.entries(r.ok.headers).map(([k, d]) => [k, z.string().meta({ description: d })]))) }
        : {}),
      ...(r.ok.sse
        ? { content: { 'text/event-stream': { schema: z.string() } } }
        : r.ok.text
          ? { content: { [r.ok.text]: { schema: z.string() } } }
          : r.ok.schema
            ? { content: json(r.ok.schema) }
            : {}),
    },
  };
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of routeErrors(r)) {
    const status = ERROR_STATUS[code];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[String(status)] = {
      description: `${ERROR_TEXT[status] ?? 'Error'} (error.code ${codes.map((c) => `\`${c}\``).join(', ')})`,
      content: json(ErrorBody),
    };
  }
  return {
    operationId: `${r.method}${r.path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
    tags: [r.tag],
    summary: r.summary,
    ...(r.description ? { description: r.description } : {}),
    ...(r.tag === 'legacy' ? { deprecated: false } : {}),
    ...(r.open ? { security: [] } : {}),
    ...(r.params || r.query ? { requestParams: { ...(r.params ? { path: r.params } : {}), ...(r.query ? { query: r.query } : {}) } } : {}),
    ...(r.body ? { requestBody: { required: !r.bodyOptional, content: json(r.body) } } : {}),
    responses: responses as ZodOpenApiOperationObject['responses'],
  };
}

/** The OpenAPI 3.1 document of the routes in `ROUTES`. */
export function openApiDocument(version = '0.1.0'): Record<string, unknown> {
  const paths: ZodOpenApiPathsObject = {};
  for (const r of ROUTES) paths[r.path] = { ...paths[r.path], [r.method]: operation(r) };
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Provisioner API',
      version,
      description:
        'Provisions libvirt VMs on hypervisor hosts over SSH. Mutations answer 202 with a job to follow (`/v1/jobs/{id}`, or its `/events` stream). Send the token as `Authorization: Bearer <token>` (or the bare token, as the replaced service took it). GET needs the `read` scope, everything else `write`; `admin` has both. Routes tagged `legacy` are the replaced service’s, unchanged. Every mutating route takes an `Idempotency-Key` header (1-255 printable ASCII): a replay with the same key and body answers as the first request did (same job), another body with the same key is 422. Repeated failed authentication from one client address is answered 429 + `Retry-After` for a while, a right token too unless it authenticated from that address lately. Tokens may carry a rate limit (429 + `Retry-After`) and be bound to an owner (they see only VMs and jobs with that `owner` tag).',
    },
    tags: [
      { name: 'vms', description: 'Virtual machines' },
      { name: 'jobs', description: 'Operations and their progress' },
      { name: 'webhooks', description: 'Signed callbacks (Standard Webhooks) when jobs end, and their delivery log' },
      { name: 'catalog', description: 'Regions, instance types and images' },
      { name: 'health', description: 'Liveness and readiness (no token)' },
      { name: 'metrics', description: 'Prometheus metrics (docs/metrics.md)' },
      { name: 'legacy', description: 'The replaced service’s routes, kept for its clients' },
    ],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token from the configuration' } },
      schemas: { ErrorBody, JobView, VmItem, HostStatus },
    },
    paths,
  }) as unknown as Record<string, unknown>;
}
