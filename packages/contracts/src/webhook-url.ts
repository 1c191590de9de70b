/**
 * Webhooks' event types and URL rules: plain zod and `URL`, no Node modules, so the typed client
 * (packages/client, which also runs in browsers) shares them through `@provisioner/contracts/api`.
 */
import { z } from 'zod';

export const JOB_EVENT_TYPES = ['job.succeeded', 'job.failed', 'job.canceled', 'job.progress'] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

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
