/** A public job by id, as the caller may see it. */

import { jobVisible } from '../caller.ts';
import type { Services } from '../context.ts';
import { jobNotFound } from '../errors.ts';

/** The job and its queue; 404 when it does not exist or belongs to another owner than the caller's. */
export async function findOr404(s: Services, id: string, owner: string | null) {
  const found = await s.queues.find(id);
  if (!found || !jobVisible(owner, found.job)) throw jobNotFound(id);
  return found;
}
