/**
 * Webhooks' pure parts, shared by the API and the worker: event types, URL rules, Standard Webhooks
 * signing and the shapes of endpoints, deliveries and attempts. Their Redis state is the store's
 * `WebhookStore`; deliveries themselves (HTTP, SSRF guard, retries) run in the worker's delivery worker.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { JobView } from './jobs.ts';
import type { JobEventType, WebhookEventType } from './webhook-url.ts';

/** The delivery queue (under the same prefix as the host queues). */
export const WEBHOOK_QUEUE = 'webhooks';
/** The backoff type of delivery jobs; the delivery worker defines it (exponential with jitter). */
export const WEBHOOK_BACKOFF = 'webhook';

export {
  CALLBACK_EVENT_TYPES,
  type CallbackEventType,
  JOB_EVENT_TYPES,
  type JobEventType,
  MAX_SECRET_OVERLAP_SECONDS,
  VM_EVENT_TYPES,
  type VmEventData,
  type VmEventType,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventType,
  WebhookUrlSchema,
  webhookUrlProblem,
} from './webhook-url.ts';

/** A new `whsec_…` secret: 32 random bytes, base64. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Standard Webhooks signature: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed with the decoded secret. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/**
 * The `webhook-signature` header: one `v1,…` per secret, space-separated (Standard Webhooks): during a
 * rotation's overlap the new secret's and the previous one's, so a receiver holding either verifies it.
 */
export function signWebhookAll(secrets: readonly string[], id: string, timestampSeconds: number, body: string): string {
  return secrets.map((s) => signWebhook(s, id, timestampSeconds, body)).join(' ');
}

/** The secrets a token signs its jobs' webhook_url deliveries with now: its webhook_secret, and its previous one until its time. */
export function tokenWebhookSecrets(
  t: { webhook_secret?: string | undefined; webhook_secret_previous?: string | undefined; webhook_secret_previous_until?: string | undefined } | undefined,
  now = Date.now(),
): string[] {
  if (!t?.webhook_secret) return [];
  const prev = t.webhook_secret_previous && Date.parse(t.webhook_secret_previous_until ?? '') > now ? [t.webhook_secret_previous] : [];
  return [t.webhook_secret, ...prev];
}

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: WebhookEventType[];
  created_at: string;
  created_by: string;
  /** Set when the receiver answered 410 Gone: nothing more is sent to it. */
  disabled_at: string | null;
  disabled_reason: string | null;
  /** Until when the secret replaced by the last rotation still signs beside the new one (null: it does not). */
  overlap_until?: string | null;
}

/** One delivery: an event for one destination. Its id is the `webhook-id`, the same on every attempt. */
export interface DeliverySpec {
  id: string;
  /** The job the event is about; for a VM event seen by a refresh, `vm:<region>/<name>` (its attempts are logged under it). */
  job_id: string;
  type: WebhookEventType;
  /** A registered endpoint (its URL and secret are read when sending), or null for the job's own webhook_url. */
  endpoint_id: string | null;
  url: string | null;
  /** The submitting token's name, whose webhook_secret signs the job's own callback. */
  token: string | null;
  body: string;
}

export type AttemptOutcome = 'delivered' | 'retrying' | 'failed' | 'refused' | 'skipped';

export interface DeliveryAttempt {
  delivery_id: string;
  type: WebhookEventType;
  endpoint_id: string | null;
  url: string;
  attempt: number;
  redelivery: boolean;
  at: string;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  outcome: AttemptOutcome;
}

/** The job's own callback, as the API stores it in the job data (token name and URL, never a secret). */
export interface JobCallback {
  url: string;
  token: string;
  /** The opt-in events the request asked for (`webhook_events`): job.progress, vm.ready. */
  events?: readonly string[];
}

export function callbackOf(data: unknown): JobCallback | null {
  const d = data as { webhook_url?: unknown; submitted_by?: unknown; webhook_events?: unknown } | null;
  if (!d || typeof d.webhook_url !== 'string' || typeof d.submitted_by !== 'string') return null;
  const events = Array.isArray(d.webhook_events) ? d.webhook_events.filter((e): e is string => typeof e === 'string') : [];
  return { url: d.webhook_url, token: d.submitted_by, ...(events.length ? { events } : {}) };
}

/** Whether a job's own webhook_url gets events of `type`: terminal ones always, the others when the request asked. */
export function callbackWants(cb: JobCallback | null, type: WebhookEventType): cb is JobCallback {
  if (!cb) return false;
  if (type === 'job.succeeded' || type === 'job.failed' || type === 'job.canceled') return true;
  return Boolean(cb.events?.includes(type));
}

/** The event a terminal job view means. */
export function terminalEvent(view: JobView): JobEventType | null {
  if (view.state === 'succeeded') return 'job.succeeded';
  if (view.state === 'failed') return 'job.failed';
  if (view.state === 'canceled') return 'job.canceled';
  return null;
}

/** A URL as logs and delivery logs show it: no query string (it may carry a receiver's token). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}
