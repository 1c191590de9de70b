/** `GET /v1/jobs/{id}`: one job. */

import { JobPath, JobView } from '@provisioner/contracts/api';
import { callerOwner } from '../../caller.ts';
import { jobNotFound } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { findOr404 } from '../../services/find-job.ts';
import { readView } from '../../watch.ts';

export default defineRoute({
  method: 'get',
  path: '/v1/jobs/{id}',
  tag: 'jobs',
  summary: 'Read one job',
  auth: 'read',
  needsRedis: true,
  request: { params: JobPath },
  responses: { 200: { description: 'The job', schema: JobView } },
  errors: ['NOT_FOUND'],
  handler: async (c, s, { params }) => {
    const { job, queue } = await findOr404(s, params.id, callerOwner(c));
    const view = await readView(queue, String(job.id));
    if (!view) throw jobNotFound(String(job.id));
    return c.json(view);
  },
});
