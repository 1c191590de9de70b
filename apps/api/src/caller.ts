/**
 * Who is asking: the requester recorded with a job, the owner an owner-bound token is limited to, and
 * what that owner may see and tag.
 */
import { TagsSchema } from '@provisioner/contracts';
import type { Job } from 'bullmq';
import type { Context } from 'hono';
import type { AppEnv } from './context.ts';
import { ApiError } from './errors.ts';

/** Who asked, recorded with the job (the token's name, never the token). */
export interface Requester {
  submitted_by: string;
  request_id: string;
  /** Where the job's outcome is POSTed (callbacks.ts). */
  webhook_url?: string;
  /** Opt-in events also sent to webhook_url (job.progress, vm.ready). */
  webhook_events?: string[];
}

export function requester(c: Context<AppEnv>): Requester {
  return { submitted_by: c.get('caller')?.name ?? 'anonymous', request_id: c.get('requestId') };
}

/** The owner the caller's token is bound to, or null when it sees everything. */
export function callerOwner(c: Context<AppEnv>): string | null {
  return c.get('caller')?.owner ?? null;
}

/** Tags of a create or tag edit by an owner-bound token: its owner forced in, 422 when another owner is named. */
export function ownedTags(owner: string | null, tags: Record<string, string> | null | undefined): Record<string, string> {
  const t = { ...(tags ?? {}) };
  if (owner === null) return t;
  if (t.owner !== undefined && t.owner !== owner) {
    throw new ApiError('VALIDATION', 'tags.owner must be the owner this token is bound to', { details: [{ path: 'tags.owner', message: 'not your owner' }] });
  }
  t.owner = owner;
  const r = TagsSchema.safeParse(t);
  if (!r.success) throw new ApiError('VALIDATION', 'too many tags with the owner tag added', { details: [{ path: 'tags', message: 'too many tags' }] });
  return t;
}

/** Whether an owner-bound caller (or any caller, when `owner` is null) may see a job. */
export function jobVisible(owner: string | null, job: Job): boolean {
  return owner === null || (job.data as { owner?: string }).owner === owner;
}
