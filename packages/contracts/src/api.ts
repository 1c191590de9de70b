/**
 * The public API's shapes, one definition for both sides: the API validates bodies with these schemas and
 * documents its answers with them (`/openapi.json`), and the typed client (packages/client) takes its
 * types from them. Imported as `@provisioner/contracts/api`: zod and the pure name and job rules only (no
 * Node modules), so it bundles for browsers too.
 */
import { z } from 'zod';
import { JOB_ERROR_CODES } from './job-errors.ts';
import {
  CONSOLE_TAIL_DEFAULT,
  CONSOLE_TAIL_MAX,
  DRIFT_KINDS,
  JOB_KINDS,
  JOB_STATES,
  READY_TIMEOUT_DEFAULT_S,
  READY_TIMEOUT_MAX_S,
  SnapshotNameSchema,
  TagKeySchema,
  TagsSchema,
  VM_STATES,
  VmNameSchema,
  WAIT_UNTIL,
} from './jobs.ts';
import { DNS_LABEL_RE, TOKEN_NAME_RE } from './names.ts';
import { CALLBACK_EVENT_TYPES, MAX_SECRET_OVERLAP_SECONDS, WEBHOOK_EVENT_TYPES, WebhookUrlSchema } from './webhook-url.ts';

export * from './api-errors.ts';

// ---- Answers. ----

export const StepView = z.object({
  name: z.string().meta({ example: 'stop' }),
  state: z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped']),
  started_at: z.string().nullable().meta({ example: '2026-01-05T10:15:02.114Z' }),
  finished_at: z.string().nullable().meta({ example: null }),
  detail: z.string().optional().meta({
    description: 'While the step runs: what it waits for, kept current (absent when there is nothing to say)',
    example: 'graceful shutdown; forcing in 47 s',
  }),
});

export const JobError = z.object({
  code: z
    .enum(JOB_ERROR_CODES)
    .meta({ description: 'The closed list of job error codes (what failed, and whether it was the host, the guest or the request)' }),
  message: z.string(),
  retryable: z.boolean(),
});

export const JobView = z
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
    started_at: z.string().nullable().meta({ example: '2026-01-05T10:15:02.050Z' }),
    finished_at: z.string().nullable().meta({ example: null }),
    error: JobError.nullable().meta({ example: null }),
    result: z.unknown().meta({ description: 'What the job produced (e.g. the VM after a create), once succeeded', example: null }),
    request_id: z.string().nullable().meta({
      description: 'The X-Request-Id of the request that submitted the job (null for scheduled jobs): find its log lines by it',
      example: 'req_3f2a9c1d8e7b46a5b0c4d2e1f9a8b7c6',
    }),
    links: z.object({ self: z.string(), events: z.string(), cancel: z.string() }).meta({
      example: {
        self: '/v1/jobs/job_8f14e45fceea167a5a36dedd4bea2543',
        events: '/v1/jobs/job_8f14e45fceea167a5a36dedd4bea2543/events',
        cancel: '/v1/jobs/job_8f14e45fceea167a5a36dedd4bea2543/cancel',
      },
    }),
  })
  .meta({ description: 'An operation and its progress (the job contract: docs/architecture.md)' });

export const HostStatus = z.object({
  region: z.string(),
  host: z.string(),
  observed_at: z.string().nullable().meta({ description: 'When the host was last listed' }),
  error: z.string().nullable(),
});

export const SnapshotItem = z.object({
  name: z.string().meta({ example: 'before-upgrade' }),
  created_at: z.string().meta({ example: '2026-01-05T10:15:00.000Z' }),
  state: z.string().meta({ description: 'The VM’s state when it was taken: a revert brings it back', example: 'running' }),
  instance_type: z.string().nullable().meta({ description: 'The instance type saved with it', example: 'small' }),
});

export const VmItem = z.object({
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
  ip: z.string().nullable().meta({ description: 'The first IPv4 address of `addresses`', example: '192.168.122.23' }),
  addresses: z
    .array(
      z.object({
        ip: z.string().meta({ example: '192.168.122.23' }),
        family: z.enum(['ipv4', 'ipv6']),
        mac: z.string().nullable().meta({ example: '52:54:00:1a:82:38' }),
        source: z.enum(['lease', 'agent', 'arp']).meta({
          description:
            'Where it was learnt: libvirt’s DHCP lease (NAT networks), the guest agent (needs qemu-guest-agent in the image; bridged networks), or ARP',
        }),
      }),
    )
    .meta({ description: 'Lease addresses first, then the agent’s, then ARP’s; kept current by the inventory refresh' }),
  guest: z
    .object({
      agent: z.enum(['connected', 'absent', 'unknown']),
      cloud_init: z.enum(['pending', 'running', 'done', 'error', 'unknown']),
      ready: z.boolean().meta({ description: 'cloud-init is done and, where the VM has a NIC, an address is known; stays true once reached' }),
      ready_at: z.string().nullable().meta({ description: 'When the inventory first saw it ready' }),
    })
    .meta({ description: 'The guest as the inventory last saw it (the agent is asked only until the VM is ready)' }),
  vcpus: z.number().int().nullable().meta({ example: 1 }),
  memory_mb: z.number().int().nullable().meta({ example: 256 }),
  image: z.string().nullable().meta({ example: 'tiny' }),
  instance_type: z.string().nullable().meta({ example: 'small' }),
  snapshots: z.array(SnapshotItem).meta({ description: 'Its snapshots, oldest first (GET …/snapshots lists the same)' }),
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

export const WebhookEndpoint = z.object({
  id: z.string().meta({ example: 'whk_1f0e3dad99908345f7439f8ffabdffc4' }),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
  created_at: z.string(),
  created_by: z.string().meta({ description: 'The name of the token that registered it' }),
  disabled_at: z.string().nullable().meta({ description: 'Set when the receiver answered 410 Gone: nothing more is sent' }),
  disabled_reason: z.string().nullable(),
  overlap_until: z
    .string()
    .nullable()
    .optional()
    .meta({ description: 'Until when the secret replaced by the last rotation still signs beside the new one (null: it does not)' }),
});
/** An endpoint's delivery stats (GET /v1/webhooks). */
export const EndpointStats = z
  .object({
    attempts: z.number().int().meta({ description: 'Delivery attempts so far' }),
    delivered: z.number().int().meta({ description: 'Attempts answered 2xx' }),
    success_rate: z.number().nullable().meta({ description: 'delivered / attempts (null before any attempt)' }),
    last_error: z.string().nullable().meta({ description: 'Why the last failed attempt failed' }),
    last_error_at: z.string().nullable(),
    last_delivered_at: z.string().nullable(),
    queued: z.number().int().meta({ description: 'Deliveries in the delivery queue now (waiting, sending, or waiting for a retry)' }),
    retrying: z.number().int().meta({ description: 'Of those, waiting for a retry after a failed attempt' }),
    next_retry_at: z.string().nullable().meta({ description: 'When the next of those retries is due' }),
  })
  .meta({ id: 'WebhookEndpointStats' });
export const WebhookSecret = z.string().meta({ description: 'The signing secret (`whsec_` + base64), shown only in this answer' });
export const VmPage = z.object({
  vms: z.array(VmItem),
  total: z.number().int(),
  limit: z.number().int(),
  next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last' }),
  hosts: z.array(HostStatus),
});

export const JobPage = z.object({ jobs: z.array(JobView), limit: z.number().int(), offset: z.number().int(), next_offset: z.number().int().nullable() });

const n = z.number().int().nullable();
export const RegionHost = z.object({
  host: z.string(),
  observed_at: z.string().nullable(),
  error: z.string().nullable(),
  cpus: n,
  memory_mb: n,
  kvm: z.boolean().nullable(),
  info_observed_at: z.string().nullable(),
  cordoned: z.boolean().describe('A cordoned host gets no new VMs (POST /v1/regions/{region}/hosts/{host}/cordon)'),
  cordon: z
    .object({ cordoned_by: z.string(), cordoned_at: z.string(), reason: z.string().nullable() })
    .nullable()
    .describe('Who cordoned the host, when and why; null when it is not cordoned'),
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
export const Region = z.object({
  region_name: z.string(),
  enabled: z.boolean(),
  available_instance_types: z.array(
    z.object({ instance_type: z.string(), vcpus: z.number().int(), memory_mb: z.number().int(), storage_mb: z.number().int() }),
  ),
  hosts: z.array(RegionHost).nullable().optional().describe('with ?hosts=true (admin tokens only): each host’s health and capacity as placement counts it'),
});

export const ImageHostState = z.object({
  region: z.string(),
  host: z.string(),
  cached: z.boolean().nullable().describe('null until the host’s image-cache job has run'),
  sha256: z.string().nullable(),
  size_bytes: z.number().int().nullable(),
  verified: z.boolean().nullable().describe('content re-hashed (or downloaded) and matching on the last check'),
  error: z.string().nullable(),
  checked_at: z.string().nullable(),
  run_error: z
    .object({ message: z.string(), at: z.string() })
    .nullable()
    .describe(
      'The host’s last image-cache run failed as a whole (the host did not answer, a command failed): why and when. Then the fields above are from the last run that ended. null once a run ends.',
    ),
});
export const Images = z.object({ images: z.array(z.object({ name: z.string(), sha256: z.string().nullable(), hosts: z.array(ImageHostState) })) });

export const HostCordonView = z
  .object({
    region: z.string(),
    host: z.string(),
    cordoned: z.boolean(),
    cordoned_by: z.string().nullable().describe('Name of the token that cordoned the host'),
    cordoned_at: z.string().nullable(),
    reason: z.string().nullable().optional(),
  })
  .meta({ id: 'HostCordon' });

export const HostDrift = z
  .object({
    region: z.string(),
    host: z.string(),
    observed_at: z.string().nullable().describe('When the refresh that found it ran; null before the first one'),
    grace_ms: z.number().int().nullable().describe('Files younger than this are left out (a create in flight)'),
    items: z.array(
      z.object({
        kind: z.enum(DRIFT_KINDS),
        vm_name: z.string(),
        path: z.string().nullable(),
        detail: z.string(),
      }),
    ),
  })
  .meta({ id: 'HostDrift' });

export const DeliveryAttempt = z.object({
  attempt: z.number().int(),
  redelivery: z.boolean(),
  at: z.string(),
  status_code: z.number().int().nullable().meta({ description: 'The receiver’s status; null when no answer (timeout, network error, refused)' }),
  duration_ms: z.number().int(),
  error: z.string().nullable().meta({ description: 'Why it failed, e.g. `HTTP 500`, `timeout after 10000 ms`, `refused: 127.0.0.1 is a loopback address`' }),
  outcome: z.enum(['delivered', 'retrying', 'failed', 'refused', 'skipped']),
});
export const Deliveries = z.object({
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

/** GET /v1/vms/{region}/{name}/snapshots. */
export const SnapshotList = z.object({ snapshots: z.array(SnapshotItem) });
/** GET /v1/webhooks. */
export const WebhookList = z.object({ webhooks: z.array(WebhookEndpoint.extend({ stats: EndpointStats })) });
/** POST /v1/webhooks/{id}/rotate-secret. */
export const RotatedSecret = z.object({
  id: z.string(),
  secret: WebhookSecret,
  overlap_until: z.string().nullable().meta({ description: 'Until when the old secret also signs (null: it stopped)' }),
});
/** POST /v1/jobs/{id}/deliveries/{delivery}/redeliver. */
export const Redelivery = z.object({ job_id: z.string(), delivery_id: z.string(), state: z.literal('queued'), links: z.object({ deliveries: z.string() }) });

// Health (no token).

export const Health = z.object({ status: z.literal('healthy') });

/** `unknown`: never listed yet; `unreachable`: its last listing failed; `stale`: no listing for three refresh periods. */
export const HOST_READINESS = ['ok', 'unreachable', 'stale', 'unknown'] as const;
export const IMAGE_CACHE_READINESS = ['ok', 'failed', 'unknown', 'off'] as const;
export const ReadyHost = z.object({
  region: z.string(),
  host: z.string(),
  status: z.enum(HOST_READINESS).meta({
    description: '`ok`; `unreachable` (its last listing failed); `stale` (not listed for three refresh periods); `unknown` (never listed yet)',
  }),
  observed_at: z.string().nullable().meta({ description: 'When the host was last listed' }),
  image_cache: z
    .object({
      status: z.enum(IMAGE_CACHE_READINESS),
      checked_at: z.string().nullable(),
      failed_at: z.string().nullable(),
    })
    .meta({
      description:
        'The host’s image cache: `ok` (its last run ended), `failed` (its last run failed: why is in `GET /v1/images`, `run_error`), `unknown` (no run yet), `off` (`image_cache.interval_ms` 0 and no run recorded); `checked_at` when the last run that ended did, `failed_at` when the last run failed.',
    }),
  disk_free_mb: z.number().int().nullable().meta({
    description:
      'Free MiB on the host for images and VM disks (the smaller of its images_dir and disks_dir file systems) when a worker last read it; null before that. Placement passes over a host without room for the type’s disk.',
  }),
});
export const Ready = z.object({ status: z.literal('ready'), redis: z.literal('ok'), hosts: z.array(ReadyHost) });

// ---- Request bodies. ----

/**
 * The body of operations that take no other field (start, delete): only the optional callback. Strict,
 * like every body it is extended into: an unknown field is a 422 naming it.
 */
export const CallbackBody = z.strictObject({ webhook_url: WebhookUrl().optional(), webhook_events: WebhookEventsSchema().optional() });

/**
 * A webhook URL as requests take it. `format: uri` and a realistic example: the docs page's "Try it out" fills a
 * field without one with `"string"`, which the URL check refuses.
 */
export function WebhookUrl() {
  return WebhookUrlSchema.meta({ format: 'uri', example: 'https://hooks.example.org/provisioner' });
}

/**
 * `webhook_events`: what else the job's webhook_url gets beside its outcome (always sent): `job.progress`, and
 * for a create `vm.ready`. An unknown type is a 422 naming it.
 */
export function WebhookEventsSchema() {
  return z
    .array(z.enum(CALLBACK_EVENT_TYPES))
    .max(CALLBACK_EVENT_TYPES.length)
    .meta({
      description: 'Events also POSTed to webhook_url beside the outcome (always sent): `job.progress`; for a create, `vm.ready`',
      example: ['job.progress'],
    });
}

/** The create body of POST /v1/vms: an unknown field (`flavour`, `name`) is a 422 naming it, not silently dropped. */
export const CreateBody = z.strictObject({
  vm_name: VmNameSchema.meta({ example: 'amber-otter' }),
  region_name: z.string().max(63).meta({ description: 'A region of GET /v1/regions', example: 'local' }),
  instance_type: z.string().max(64).meta({ description: 'One of the region’s available_instance_types', example: 'small' }),
  image: z.string().max(128).meta({ description: 'A name of GET /v1/images', example: 'tiny' }),
  tags: TagsSchema.nullish().meta({ example: { owner: 'alice' } }),
  user_data: z.string().nullish().meta({ description: 'base64 of one cloud-init YAML document', example: 'I2Nsb3VkLWNvbmZpZwpwYWNrYWdlczogW2h0b3BdCg==' }),
  /** POSTed the job's outcome, signed (see apps/api/src/callbacks.ts); the legacy routes ignore it. */
  webhook_url: WebhookUrl().optional(),
  webhook_events: WebhookEventsSchema().optional(),
  /** Pins the VM to this host of the region (placement then only checks it has room). */
  host: z
    .string()
    .max(63)
    .optional()
    .meta({ description: 'Pins the VM to this host of the region (placement then only checks it has room)', example: 'local-1' }),
  wait_until: z.enum(WAIT_UNTIL).optional().meta({
    description:
      'When the job succeeds: `running` (default) once the domain started; `ready` once cloud-init is done in the guest and, where the VM has a NIC, an address is known (last step `wait-ready`; the result then carries `addresses` and `guest`)',
    default: 'running',
  }),
  ready_timeout_s: z.number().int().min(1).max(READY_TIMEOUT_MAX_S).optional().meta({
    description: 'With `wait_until: ready`: how long to wait for the guest before the job fails `GUEST_NOT_READY` (the VM is kept)',
    default: READY_TIMEOUT_DEFAULT_S,
  }),
});

/** The longest a stop or reboot may give the guest. */
export const MAX_TIMEOUT_MS = 3_600_000;

/** `timeout_ms` of a stop, reboot or resize. */
function TimeoutMs() {
  return z.number().int().positive().max(MAX_TIMEOUT_MS).optional().meta({
    description: 'How long the guest gets to shut down before it is powered off (default: worker.stop_timeout_ms, 60 s)',
    example: 60_000,
  });
}

export const StopBody = CallbackBody.extend({
  /** Power off at once instead of asking the guest to shut down. */
  force: z.boolean().default(false),
  /** How long the guest gets to shut down before it is powered off (default: worker.stop_timeout_ms). */
  timeout_ms: TimeoutMs(),
});

export const RebootBody = CallbackBody.extend({ timeout_ms: TimeoutMs() });

export const ResizeBody = CallbackBody.extend({
  instance_type: z.string().min(1).max(64).meta({ description: 'One of the region’s available_instance_types', example: 'medium' }),
  /** Power a running VM off at once instead of asking its guest to shut down. */
  force: z.boolean().default(false),
  /** How long a running VM's guest gets to shut down before it is powered off (default: worker.stop_timeout_ms). */
  timeout_ms: TimeoutMs(),
});

export const RebuildBody = CallbackBody.extend({
  image: z.string().max(128).optional().meta({ description: 'A name of GET /v1/images (default: the VM’s current image)', example: 'tiny' }),
  user_data: z.string().nullish().meta({
    description: 'base64 of one cloud-init YAML document for the new seed (default: the VM keeps its seed, so its user-data runs again)',
    example: 'I2Nsb3VkLWNvbmZpZwpwYWNrYWdlczogW2h0b3BdCg==',
  }),
  /** Power a running VM off at once instead of asking its guest to shut down (after worker.stop_timeout_ms). */
  force: z.boolean().default(false),
  /** Delete the VM's snapshots (they live in the disk the rebuild replaces); without it a VM with snapshots is refused with 409. */
  delete_snapshots: z.boolean().default(false),
});

export const TagsBody = CallbackBody.extend({
  tags: TagsSchema.meta({ description: 'The new tags, replacing all of them (keep `owner`)', example: { owner: 'alice', env: 'staging' } }),
});

/**
 * `error.details` of a 412 (`PRECONDITION_FAILED`): the write's `If-Match` named an older version of the VM.
 * What it is now, to show the person or to merge with before writing again (with this `etag`).
 */
export const StaleVersion = z.object({
  etag: z.string().meta({ description: 'The VM’s current ETag (also the answer’s `ETag` header)' }),
  tags: TagsSchema.meta({ description: 'The VM’s current tags' }),
});

export const SnapshotBody = CallbackBody.extend({
  name: SnapshotNameSchema.meta({ description: 'The snapshot’s name: a lowercase DNS label, like VM names', example: 'before-upgrade' }),
});

export const EndpointBody = z.object({
  url: WebhookUrl(),
  /** Event types the endpoint wants: job.succeeded, job.failed, job.canceled, job.progress, vm.ready, vm.state_changed. */
  events: z
    .array(z.enum(WEBHOOK_EVENT_TYPES))
    .min(1)
    .max(WEBHOOK_EVENT_TYPES.length)
    .meta({ description: 'The event types the endpoint wants', example: ['job.succeeded', 'job.failed'] }),
});

/** The body of POST /v1/webhooks/{id}/rotate-secret. */
export const RotateBody = z.strictObject({
  overlap_seconds: z
    .number()
    .int('must be a whole number of seconds')
    .min(0)
    .max(MAX_SECRET_OVERLAP_SECONDS)
    .default(0)
    .meta({ description: 'How long the old secret keeps signing beside the new one (default 0: it stops at once; at most 7 days)' }),
});

/** The body of POST /v1/regions/{region}/hosts/{host}/cordon. */
export const CordonBody = z.strictObject({
  reason: z.string().max(500).optional().meta({ description: 'Why (shown with the host’s state)', example: 'disk swap' }),
});

// ---- Path parameters. ----
// The API validates them before the handler runs, like bodies: a name that breaks its rule is a 422 naming
// the parameter; a well-formed one that names nothing is a 404. Ids are checked for length only: an id of
// no job or endpoint is "not found" whatever its form (clients got 404 for them from the start).

/** A region or host name as configured: a lowercase DNS label. */
const DnsLabel = () => z.string().regex(DNS_LABEL_RE, 'must be a lowercase DNS label (1-63 of a-z, 0-9, -)');
/** An id from an answer (`job_…`, `whk_…`, `msg_…`). */
const Id = () => z.string().min(1).max(128);

export const VmPath = z.strictObject({
  region: DnsLabel().meta({ description: 'A configured region', example: 'local' }),
  name: VmNameSchema.meta({ description: 'The VM name (a lowercase DNS label)', example: 'amber-otter' }),
});
export const SnapshotPath = VmPath.extend({
  snapshot: SnapshotNameSchema.meta({ description: 'The snapshot’s name (a lowercase DNS label)', example: 'before-upgrade' }),
});
export const HostPath = z.strictObject({
  region: DnsLabel().meta({ description: 'A configured region', example: 'local' }),
  host: DnsLabel().meta({ description: 'A host of the region', example: 'local-1' }),
});
export const JobPath = z.strictObject({ id: Id().meta({ description: 'A job id (`job_…`)', example: 'job_8f14e45fceea167a5a36dedd4bea2543' }) });
export const DeliveryPath = JobPath.extend({ delivery: Id().meta({ description: 'A delivery id (`msg_…`)' }) });
export const WebhookPath = z.strictObject({ id: Id().meta({ description: 'An endpoint id (`whk_…`)' }) });
export const TokenPath = z.strictObject({
  name: z.string().regex(TOKEN_NAME_RE, 'must be 1-64 of A-Za-z0-9._-').meta({ description: 'The token’s name in the configuration', example: 'alice-bot' }),
});

// ---- Queries. ----
// Strict like the bodies: a misspelt parameter (`?sate=running`) is a 422 naming it, not the whole
// unfiltered list. A parameter is given once, but for the arrays (`tag`), which may repeat.

/** `true`/`false` (or `1`/`0`) in a query. */
export const QueryBool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/**
 * A tag filter: `key=value` (split at the first `=`, which no key contains), `key` alone (any value), or the
 * earlier `key:value`.
 */
const TagFilter = z
  .string()
  .max(1100)
  .refine(
    (t) => (t.includes('=') ? TagKeySchema.safeParse(t.split('=', 1)[0]).success : TagKeySchema.safeParse(t.split(':', 1)[0]).success),
    'tag filters are key=value or key (keys: 1-63 of A-Za-z0-9_.:/-)',
  )
  .meta({ example: 'owner=alice' });

/** GET /v1/vms. */
export const VmListQuery = z.strictObject({
  region: z.string().max(63).optional().meta({ example: 'local' }),
  /** libvirt's state text: a value no VM can have is a 422, not an empty list. */
  state: z.enum(VM_STATES).optional(),
  owner: z.string().max(1024).optional().meta({ example: 'alice' }),
  /** Repeatable; all must match. The CLI's `--tag key=value` is passed as is. */
  tag: z.array(TagFilter).default([]),
  managed: QueryBool.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).optional(),
  cursor: z.string().max(400).optional(),
  refresh: QueryBool.default(false),
});

/** GET /v1/vms/{region}/{name}. */
export const VmQuery = z.strictObject({ refresh: QueryBool.default(false) });

/** GET /v1/vms/{region}/{name}/console. */
export const ConsoleQuery = z.strictObject({
  tail_bytes: z.coerce
    .number()
    .int()
    .min(1)
    .max(CONSOLE_TAIL_MAX)
    .default(CONSOLE_TAIL_DEFAULT)
    .meta({ description: `How many bytes of the log's end (at most ${CONSOLE_TAIL_MAX})`, example: 4096 }),
});

/** GET /v1/jobs. */
export const JobListQuery = z.strictObject({
  state: z.enum(JOB_STATES).optional(),
  kind: z.enum(JOB_KINDS).optional(),
  region: z.string().max(63).optional(),
  vm_name: z.string().max(63).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});

/** GET /v1/regions. */
export const RegionsQuery = z.strictObject({
  hosts: z.enum(['true', 'false']).optional().meta({ description: 'Each host’s health and capacity (admin tokens only)' }),
});

// ---- Types of the answers (what a client reads) and of the bodies (what it may send). ----

export type Health = z.infer<typeof Health>;
export type Ready = z.infer<typeof Ready>;
export type ReadyHost = z.infer<typeof ReadyHost>;
export type StepView = z.infer<typeof StepView>;
export type JobError = z.infer<typeof JobError>;
export type JobView = z.infer<typeof JobView>;
export type HostStatus = z.infer<typeof HostStatus>;
export type SnapshotItem = z.infer<typeof SnapshotItem>;
export type VmItem = z.infer<typeof VmItem>;
export type WebhookEndpoint = z.infer<typeof WebhookEndpoint>;
export type VmPage = z.infer<typeof VmPage>;
export type JobPage = z.infer<typeof JobPage>;
export type RegionHost = z.infer<typeof RegionHost>;
export type Region = z.infer<typeof Region>;
export type Images = z.infer<typeof Images>;
export type HostCordonView = z.infer<typeof HostCordonView>;
export type HostDrift = z.infer<typeof HostDrift>;
export type DeliveryAttempt = z.infer<typeof DeliveryAttempt>;
export type Deliveries = z.infer<typeof Deliveries>;
export type SnapshotList = z.infer<typeof SnapshotList>;
export type WebhookList = z.infer<typeof WebhookList>;
export type RotatedSecret = z.infer<typeof RotatedSecret>;
export type Redelivery = z.infer<typeof Redelivery>;
/** Bodies as a client writes them (defaults may be left out). */
export type CallbackInput = z.input<typeof CallbackBody>;
/** A create as the API reads it (defaults applied). */
export type CreateBody = z.infer<typeof CreateBody>;
export type CreateInput = z.input<typeof CreateBody>;
export type StopInput = z.input<typeof StopBody>;
export type RebootInput = z.input<typeof RebootBody>;
export type ResizeInput = z.input<typeof ResizeBody>;
export type RebuildInput = z.input<typeof RebuildBody>;
export type TagsInput = z.input<typeof TagsBody>;
export type StaleVersion = z.infer<typeof StaleVersion>;
export type SnapshotInput = z.input<typeof SnapshotBody>;
export type EndpointInput = z.input<typeof EndpointBody>;
export type RotateInput = z.input<typeof RotateBody>;
export type EndpointStats = z.infer<typeof EndpointStats>;
export type CordonInput = z.input<typeof CordonBody>;
/** Queries as the API reads them (defaults applied, values typed). */
export type VmListQuery = z.output<typeof VmListQuery>;
export type VmQuery = z.output<typeof VmQuery>;
export type ConsoleQuery = z.output<typeof ConsoleQuery>;
export type JobListQuery = z.output<typeof JobListQuery>;
export type RegionsQuery = z.output<typeof RegionsQuery>;
/** Path parameters as the API reads them. */
export type VmPath = z.output<typeof VmPath>;
export type SnapshotPath = z.output<typeof SnapshotPath>;
export type HostPath = z.output<typeof HostPath>;
export type JobPath = z.output<typeof JobPath>;
export type DeliveryPath = z.output<typeof DeliveryPath>;
export type WebhookPath = z.output<typeof WebhookPath>;
export type TokenPath = z.output<typeof TokenPath>;
