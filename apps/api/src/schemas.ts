/**
 * Schemas only the API uses (the shapes clients read and send, the error envelope among them, are in
 * `@provisioner/contracts/api`, the path parameters and queries too): the shared notes and examples.
 */
import { encodeJobError, type JobKind, type JobView, toJobView } from '@provisioner/contracts';
import { z } from 'zod';

export const LegacySuccess = z.object({ message: z.literal('Success') });

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
