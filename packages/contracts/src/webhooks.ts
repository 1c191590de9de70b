/**
 * Webhooks' pure parts, shared by the API and the worker: event types, URL rules, Standard Webhooks
 * signing and the shapes of endpoints, deliveries and attempts. Their Redis state is the store's
 * `WebhookStore`; deliveries themselves (HTTP, SSRF guard, retries) run in the worker's delivery worker.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { JobView } from './jobs.ts';
import type { JobEventType } from './webhook-url.ts';

/** The delivery queue (under the same prefix as the host queues). */
export const WEBHOOK_QUEUE = 'webhooks';
/** The backoff type of delivery jobs; the delivery worker defines it (exponential with jitter). */
export const WEBHOOK_BACKOFF = 'webhook';

export { JOB_EVENT_TYPES, type JobEventType, WebhookUrlSchema, webhookUrlProblem } from './webhook-url.ts';

/** A new `whsec_…` secret: 32 random bytes, base64. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Standard Webhooks signature: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed with the decoded secret. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

export interface WebhookEndpoint {
  id: string;
  url: string;
  events: JobEventType[];
  created_at: string;
  created_by: string;
  /** Set when the receiver answered 410 Gone: nothing more is sent to it. */
  disabled_at: string | null;
  disabled_reason: string | null;
}

/** One delivery: an event for one destination. Its id is the `webhook-id`, the same on every attempt. */
export interface DeliverySpec {
  id: string;
  job_id: string;
  type: JobEventType;
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
  type: JobEventType;
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
}

export function callbackOf(data: unknown): JobCallback | null {
  const d = data as { webhook_url?: unknown; submitted_by?: unknown } | null;
  return d && typeof d.webhook_url === 'string' && typeof d.submitted_by === 'string' ? { url: d.webhook_url, token: d.submitted_by } : null;
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
