/** `GET /v1/jobs`: jobs newest first, from the host queues. */
import { JobPage } from '@provisioner/contracts/api';
import { callerOwner } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { JobsQuery, listJobs } from '../../services/list-jobs.ts';
import { validate } from '../../validation.ts';

export default defineRoute({
  method: 'get',
  path: '/v1/jobs',
  tag: 'jobs',
  summary: 'List jobs, newest first',
  auth: 'read',
  needsRedis: true,
  request: { query: JobsQuery },
  responses: { 200: { description: 'A page of jobs', schema: JobPage } },
  errors: ['VALIDATION'],
  handler: async (c, s) => c.json(await listJobs(s, validate(JobsQuery, c.req.query()), callerOwner(c))),
});
