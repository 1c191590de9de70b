/** `GET /v1/jobs/{id}/deliveries`: a job's webhook deliveries, with every attempt. */
import { redactDestinations } from '@provisioner/contracts';
import { Deliveries, JobPath } from '@provisioner/contracts/api';
import { jobNotFound } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { isAdmin, visibleOr404 } from './visible.ts';

export default defineRoute({
  method: 'get',
  path: '/v1/jobs/{id}/deliveries',
  tag: 'webhooks',
  summary: 'A job’s webhook deliveries, with every attempt',
  description:
    'Admin tokens see every delivery, where it went and why an attempt failed. Other tokens see the deliveries to the job’s own `webhook_url` only, without the URL, and attempt errors without addresses or host names (`refused: the destination is a private address`).',
  auth: 'read',
  needsRedis: true,
  request: { params: JobPath },
  responses: { 200: { description: 'Deliveries, oldest first', schema: Deliveries } },
  errors: ['NOT_FOUND'],
  handler: async (c, s, { params: { id } }) => {
    await visibleOr404(s, c, id);
    const deliveries = await s.webhooks.deliveries(id);
    if (deliveries.length === 0 && !(await s.queues.find(id))) throw jobNotFound(id);
    if (isAdmin(c)) return c.json({ job_id: id, deliveries });
    // Registered endpoints are the admins' (they register them). Where a delivery goes is theirs to see too:
    // a chat webhook's URL carries its secret in the path, and an address or host name in an error maps
    // the service's network for whoever submitted a job.
    const own = deliveries
      .filter((d) => d.endpoint_id === null)
      .map((d) => {
        const host = hostOf(d.url);
        const attempts = d.attempts.map((a) => ({ ...a, error: a.error === null ? null : redactDestinations(a.error, host ? [host] : []) }));
        return { ...d, url: null, attempts };
      });
    return c.json({ job_id: id, deliveries: own });
  },
});

function hostOf(url: string | null): string | null {
  try {
    return url ? new URL(url).hostname : null;
  } catch {
    return null;
  }
}
