/** `POST /v1/jobs/{id}/cancel`: 200 with the canceled job when it was queued, 202 while a worker stops it. */
import { JobPath, JobView } from '@provisioner/contracts/api';
import { callerOwner } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { jobExample } from '../../schemas.ts';
import { cancelJob } from '../../services/cancel-job.ts';

export default defineRoute({
  method: 'post',
  path: '/v1/jobs/{id}/cancel',
  tag: 'jobs',
  summary: 'Cancel a job',
  description:
    'A queued job ends `canceled` at once and never runs (200, the canceled job). A running one is stopped on whichever worker runs it: its remote command is killed, a create’s partial work (domain, disk, seed) removed, and it ends `canceled` without retries (202: follow the job). 409 when the job has already ended.',
  auth: 'write',
  needsRedis: true,
  request: { params: JobPath },
  responses: {
    200: {
      description: 'The job was queued and is canceled already',
      schema: JobView,
      headers: { Location: 'The job' },
      example: jobExample('create', 'canceled'),
    },
    202: {
      description: 'Cancellation under way (200 when the job was queued and is canceled already)',
      schema: JobView,
      headers: { Location: 'The job' },
      example: jobExample('create', 'running'),
    },
  },
  errors: ['NOT_FOUND', 'CONFLICT'],
  handler: async (c, s, { params }) => {
    const by = `token '${c.get('caller')?.name ?? 'anonymous'}'`;
    const { view, outcome } = await cancelJob(s, { id: params.id, owner: callerOwner(c), by, log: c.get('logger') });
    c.header('Location', `/v1/jobs/${view.id}`);
    return c.json(view, outcome === 'canceled' ? 200 : 202);
  },
});
