/**
 * Response schemas more than one route answers with (each route's own are in its file): the error
 * envelope, the job view, the VM item, the path parameters. `/openapi.json` names the first ones as
 * components (src/openapi.ts).
 */
import { JOB_KINDS, JOB_STATES, VM_STATES } from '@provisioner/contracts';
import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode } from './errors.ts';

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      request_id: z.string().meta({ description: 'The X-Request-Id of the request' }),
      job_id: z.string().optional().meta({ description: 'The job concerned (legacy routes: the job that failed or is still running)' }),
      details: z.unknown().optional().meta({ description: 'Per-field problems (`[{path, message}]`) or the job error' }),
    }),
    detail: z.string().meta({ description: 'Same as error.message: what the replaced service’s clients read' }),
    // GET /ready answers its 503 in the envelope with this beside it.
    status: z.literal('unready').optional().meta({ description: 'GET /ready only: the API is not ready' }),
  })
  .meta({ description: 'The one error envelope of every route' });

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

export const JobError = z.object({ code: z.string(), message: z.string(), retryable: z.boolean() });

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

export const LegacySuccess = z.object({ message: z.literal('Success') });

export const VmPath = z.object({
  region: z.string().meta({ description: 'A configured region', example: 'local' }),
  name: z.string().meta({ description: 'The VM name (a lowercase DNS label)', example: 'amber-otter' }),
});
export const JobPath = z.object({ id: z.string().meta({ description: 'A job id (`job_…`)', example: 'job_8f14e45fceea167a5a36dedd4bea2543' }) });

export const WebhookEndpoint = z.object({
  id: z.string().meta({ example: 'whk_1f0e3dad99908345f7439f8ffabdffc4' }),
  url: z.string(),
  events: z.array(z.enum(['job.succeeded', 'job.failed', 'job.canceled', 'job.progress', 'vm.ready', 'vm.state_changed'])),
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
export const WebhookSecret = z.string().meta({ description: 'The signing secret (`whsec_` + base64), shown only in this answer' });
export const WebhookPath = z.object({ id: z.string().meta({ description: 'An endpoint id (`whk_…`)' }) });
export const WEBHOOK_NOTE =
  'Deliveries are POSTs of `{"type","timestamp","data": <the job as GET /v1/jobs/{id} shows it>}` with Standard Webhooks headers `webhook-id`, `webhook-timestamp`, `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`). Any 2xx is success; others are retried with exponential backoff; 410 disables the endpoint. Private, loopback, link-local and reserved addresses are refused when connecting unless the configuration allows them.';

export const ACCEPTED_HEADERS = { Location: 'Where to follow the job (`/v1/jobs/{id}`)', 'Retry-After': 'Seconds before looking again' };
export const LEGACY_NOTE =
  'Legacy route of the replaced service (docs/legacy-api.md), kept unchanged for its clients (the chat bot): it waits for the job and answers `{"message":"Success"}`, the job’s failure as an error status, or 504 with the job id when the wait runs out (the job goes on). New clients use the `/v1/vms` routes.';
