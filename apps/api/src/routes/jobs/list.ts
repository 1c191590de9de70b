/** `GET /v1/jobs`: jobs newest first, from the host queues. */
import { JobListQuery, JobPage } from '@provisioner/contracts/api';
import { callerOwner } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { listJobs } from '../../services/list-jobs.ts';

export default defineRoute({
  method: 'get',
  path: '/v1/jobs',
  tag: 'jobs',
  summary: 'List jobs, newest first',
  description:
    'The jobs of every host queue: queued and running ones, and finished ones for `retention_seconds` after they end (at most `retention_max_jobs` per queue and outcome; past it the oldest go early). Jobs that only answered the request that queued them are removed as they end, so they never take an operation’s place: the `refresh` jobs of listings with `refresh=true` (and the legacy list) show only while queued or running, their outcome being the listing’s `hosts[]`; so do console reads, failed ones too (the console request answers with the text or the read’s error), so failed reads never push an operation’s failure out of `retention_max_jobs`. The workers’ scheduled refreshes and image-cache runs are never listed.',
  auth: 'read',
  needsRedis: true,
  request: { query: JobListQuery },
  responses: { 200: { description: 'A page of jobs', schema: JobPage } },
  errors: ['VALIDATION'],
  handler: async (c, s, { query }) => c.json(await listJobs(s, query, callerOwner(c))),
});
