/** What the webhook routes share: endpoint and delivery ids, and who may see a job's deliveries. */
import type { Context } from 'hono';
import { callerOwner, jobVisible } from '../../caller.ts';
import type { AppEnv, Services } from '../../context.ts';
import { jobNotFound } from '../../errors.ts';

export const ENDPOINT_ID_RE = /^whk_[a-f0-9]{32}$/;
export const DELIVERY_ID_RE = /^msg_[a-f0-9]{32}$/;

/** An owner-bound token sees only its owner's jobs, and so only their deliveries. */
export async function visibleOr404(s: Services, c: Context<AppEnv>, id: string): Promise<void> {
  const owner = callerOwner(c);
  if (owner === null) return;
  const found = await s.queues.find(id);
  if (!found || !jobVisible(owner, found.job)) throw jobNotFound(id);
}

/**
 * Admins register endpoints, so deliveries to them (and where any delivery goes, or why it was refused)
 * are theirs to see and resend; other callers see and resend their jobs' own `webhook_url` deliveries.
 */
export function isAdmin(c: Context<AppEnv>): boolean {
  return c.get('caller')?.scopes.includes('admin') ?? false;
}
