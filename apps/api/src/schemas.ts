/**
 * Schemas only the API uses (the shapes clients read and send are in `@provisioner/contracts/api`): the
 * error envelope, the path parameters and the shared notes. `/openapi.json` names `ErrorBody` as a
 * component beside the job view, the VM item and the host status (src/openapi.ts).
 */
import { encodeJobError, type JobKind, type JobView, toJobView } from '@provisioner/contracts';
import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode } from './errors.ts';

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]),
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

export const LegacySuccess = z.object({ message: z.literal('Success') });

export const VmPath = z.object({
  region: z.string().meta({ description: 'A configured region', example: 'local' }),
  name: z.string().meta({ description: 'The VM name (a lowercase DNS label)', example: 'amber-otter' }),
});
export const JobPath = z.object({ id: z.string().meta({ description: 'A job id (`job_…`)', example: 'job_8f14e45fceea167a5a36dedd4bea2543' }) });

export const WebhookPath = z.object({ id: z.string().meta({ description: 'An endpoint id (`whk_…`)' }) });
export const WEBHOOK_NOTE =
  'Deliveries are POSTs of `{"type","timestamp","data": <the job as GET /v1/jobs/{id} shows it>}` with Standard Webhooks headers `webhook-id`, `webhook-timestamp`, `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`). Any 2xx is success; others are retried with exponential backoff; 410 disables the endpoint. Only global unicast addresses are reached unless the configuration allows a network or host: a URL whose host is an IP literal outside them is refused at once (422), and every address a host name resolves to is checked when connecting.';

export const ACCEPTED_HEADERS = { Location: 'Where to follow the job (`/v1/jobs/{id}`)', 'Retry-After': 'Seconds before looking again' };
export const LEGACY_NOTE =
  'Legacy route of the replaced service (docs/legacy-api.md), kept unchanged for its clients (the chat bot): it waits for the job and answers `{"message":"Success"}`, the job’s failure as an error status, or 504 with the job id when the wait runs out (the job goes on). New clients use the `/v1/vms` routes.';

/**
 * A job of `kind` as an answer shows it, for the documentation: built by the function real answers are built
 * with (toJobView), so it is valid against JobView, and of the operation's own kind (a create answers a create
 * job, not the schema's field examples put together).
 */
export function jobExample(kind: JobKind, state: 'queued' | 'running' | 'canceled' = 'queued'): JobView {
  const hostJob = kind === 'drift-clean' || kind === 'refresh' || kind === 'image-cache';
  const created = Date.parse('2026-01-05T10:15:01.870Z');
  const data = { kind, region: 'local', host: 'local-1', ...(hostJob ? {} : { vm_name: 'amber-otter' }), request_id: 'req_3f2a9c1d8e7b46a5b0c4d2e1f9a8b7c6' };
  const started = state === 'queued' ? undefined : created + 180;
  const bull = { queued: 'waiting', running: 'active', canceled: 'failed' }[state];
  return toJobView(
    {
      id: 'job_8f14e45fceea167a5a36dedd4bea2543',
      data,
      progress: 0,
      attemptsMade: state === 'queued' ? 0 : 1,
      timestamp: created,
      ...(started ? { processedOn: started } : {}),
      ...(state === 'canceled'
        ? { finishedOn: created + 950, failedReason: encodeJobError({ code: 'CANCELED', message: "canceled by token 'alice-bot'", retryable: false }) }
        : {}),
    },
    bull,
  );
}
