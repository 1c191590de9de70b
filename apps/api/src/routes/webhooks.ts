/**
 * Webhooks: registered endpoints (admin), and each job's deliveries (every attempt) with redelivery.
 * Secrets are answered once, when made (register, rotate-secret), never listed.
 */
import { JOB_EVENT_TYPES, WEBHOOK_QUEUE, Webhooks, WebhookUrlSchema } from '@provisioner/contracts';
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv, Services } from '../context.ts';
import { ApiError } from '../errors.ts';
import { callerOwner, jobVisible } from '../ops.ts';
import { jsonBody } from '../validation.ts';

export const EndpointBody = z.object({
  url: WebhookUrlSchema,
  /** Event types the endpoint wants: job.succeeded, job.failed, job.canceled, job.progress. */
  events: z.array(z.enum(JOB_EVENT_TYPES)).min(1).max(JOB_EVENT_TYPES.length),
});

function requireAdmin(c: Context<AppEnv>): string {
  const caller = c.get('caller');
  if (!caller?.scopes.includes('admin')) throw new ApiError('FORBIDDEN', `token '${caller?.name ?? 'anonymous'}' lacks the 'admin' scope`);
  return caller.name;
}

const ENDPOINT_ID_RE = /^whk_[a-f0-9]{32}$/;

export function webhookRoutes(s: Services): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  const hooks = new Webhooks(s.redis, s.config, s.queues.get(WEBHOOK_QUEUE));
  /** An owner-bound token sees only its owner's jobs, and so only their deliveries. */
  const visibleOr404 = async (c: Context<AppEnv>, id: string) => {
    const owner = callerOwner(c);
    if (owner === null) return;
    const found = await s.queues.find(id);
    if (!found || !jobVisible(owner, found.job)) throw new ApiError('NOT_FOUND', 'job not found');
  };

  r.post('/v1/webhooks', async (c) => {
    const by = requireAdmin(c);
    const b = await jsonBody(c, EndpointBody);
    const { endpoint, secret } = await hooks.createEndpoint({ url: b.url, events: b.events, created_by: by });
    c.header('Location', `/v1/webhooks/${endpoint.id}`);
    return c.json({ ...endpoint, secret }, 201);
  });

  r.get('/v1/webhooks', async (c) => {
    requireAdmin(c);
    return c.json({ webhooks: await hooks.listEndpoints() });
  });

  r.delete('/v1/webhooks/:id', async (c) => {
    requireAdmin(c);
    const id = c.req.param('id');
    if (!ENDPOINT_ID_RE.test(id) || !(await hooks.deleteEndpoint(id))) throw new ApiError('NOT_FOUND', 'webhook endpoint not found');
    return c.body(null, 204);
  });

  r.post('/v1/webhooks/:id/rotate-secret', async (c) => {
    requireAdmin(c);
    const id = c.req.param('id');
    const secret = ENDPOINT_ID_RE.test(id) ? await hooks.rotateSecret(id) : null;
    if (!secret) throw new ApiError('NOT_FOUND', 'webhook endpoint not found');
    return c.json({ id, secret });
  });

  r.get('/v1/jobs/:id/deliveries', async (c) => {
    const id = c.req.param('id');
    await visibleOr404(c, id);
    const deliveries = await hooks.deliveries(id);
    if (deliveries.length === 0 && !(await s.queues.find(id))) throw new ApiError('NOT_FOUND', 'job not found');
    // Capability URLs (chat webhooks) carry their secret in the path: only admins, who may list the
    // endpoints anyway, see where deliveries go; others get the endpoint id.
    const admin = c.get('caller')?.scopes.includes('admin') ?? false;
    return c.json({ job_id: id, deliveries: admin ? deliveries : deliveries.map((d) => ({ ...d, url: null })) });
  });

  r.post('/v1/jobs/:id/deliveries/:delivery/redeliver', async (c) => {
    const id = c.req.param('id');
    const delivery = c.req.param('delivery');
    await visibleOr404(c, id);
    const outcome = await hooks.redeliver(id, delivery);
    if (outcome === 'not_found') throw new ApiError('NOT_FOUND', 'delivery not found');
    if (outcome === 'endpoint_gone') throw new ApiError('CONFLICT', 'the endpoint of this delivery was deleted or disabled');
    return c.json({ job_id: id, delivery_id: delivery, state: 'queued', links: { deliveries: `/v1/jobs/${id}/deliveries` } }, 202);
  });

  return r;
}
