/** `POST /v1/jobs/{id}/cancel`: 200 with the canceled job when it was queued, 202 while a worker stops it. */
import { JobPath, JobView } from '@provisioner/contracts/api';
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
  handler: (c, s, { params }) => cancelJob(s, c, params.id),
});
