/**
 * Webhooks' pure parts, shared by the API and the worker: event types, URL rules, Standard Webhooks
 * signing and the shapes of endpoints, deliveries and attempts. Their Redis state is the store's
 * `WebhookStore`; deliveries themselves (HTTP, SSRF guard, retries) run in the worker's delivery worker.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { JobView } from './jobs.ts';

/** The delivery queue (under the same prefix as the host queues). */
export const WEBHOOK_QUEUE = 'webhooks';
/** The backoff type of delivery jobs; the delivery worker defines it (exponential with jitter). */
export const WEBHOOK_BACKOFF = 'webhook';

export const JOB_EVENT_TYPES = ['job.succeeded', 'job.failed', 'job.canceled', 'job.progress'] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];
/**
 * Events about a VM rather than a job: `vm.ready` (its guest became ready: cloud-init done and, with a NIC,
 * an address known; seen by a create's wait-ready or by an inventory refresh), `vm.state_changed` (an
 * inventory refresh saw its state change while no operation of the service was under way on it).
 */
export const VM_EVENT_TYPES = ['vm.ready', 'vm.state_changed'] as const;
export type VmEventType = (typeof VM_EVENT_TYPES)[number];
/** Every type a registered endpoint may subscribe to. */
export const WEBHOOK_EVENT_TYPES = [...JOB_EVENT_TYPES, ...VM_EVENT_TYPES] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
/**
 * What a request's `webhook_events` may name for its own `webhook_url`: the terminal events (always sent
 * anyway), and opt-in `job.progress` and, for a create, `vm.ready`.
 */
export const CALLBACK_EVENT_TYPES = ['job.succeeded', 'job.failed', 'job.canceled', 'job.progress', 'vm.ready'] as const;
export type CallbackEventType = (typeof CALLBACK_EVENT_TYPES)[number];

/** A VM event's `data`: the VM as the inventory refresh (or the create's wait-ready) saw it. */
export interface VmEventData {
  region: string;
  host: string;
  vm_name: string;
  uuid: string;
  state: string;
  /** vm.state_changed: the state before. */
  previous_state?: string;
  addresses: Array<{ ip: string; family: string; source: string }>;
  ip: string | null;
  observed_at: string;
  /** The create job that waited for its guest (vm.ready seen by wait-ready). */
  job_id?: string;
}

/**
 * Why a webhook URL cannot be used at all (null when it can): http(s), well-formed, a host, no
 * credentials (deliveries are signed instead). Where it points is checked when connecting.
 */
export function webhookUrlProblem(s: string): string | null {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return 'not a well-formed URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http(s) URL';
  if (!u.hostname) return 'must name a host';
  if (u.username || u.password) return 'must not carry credentials (deliveries are signed)';
  if (/\s/.test(s)) return 'must not contain whitespace';
  return null;
}

export const WebhookUrlSchema = z
  .string()
  .max(2048, 'at most 2048 characters')
  .superRefine((s, ctx) => {
    const problem = webhookUrlProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

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

/** Most a rotated secret keeps signing beside the new one (`overlap_seconds`): 7 days. */
export const MAX_SECRET_OVERLAP_SECONDS = 7 * 24 * 3600;

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
