/**
 * Webhooks' event types and URL rules: plain zod and `URL`, no Node modules, so the typed client
 * (packages/client, which also runs in browsers) shares them through `@provisioner/contracts/api`.
 */
import { z } from 'zod';

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

/** Most a rotated secret keeps signing beside the new one (`overlap_seconds`): 7 days. */
export const MAX_SECRET_OVERLAP_SECONDS = 7 * 24 * 3600;

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
