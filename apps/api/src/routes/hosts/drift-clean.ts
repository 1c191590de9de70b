/**
 * `POST /v1/regions/{region}/hosts/{host}/drift/clean` (admin): a `drift-clean` job that removes what the
 * host's drift report lists, re-checked on the host first (see GET …/drift).
 */
import { HostPath, JobView } from '@provisioner/contracts/api';
import { accepted } from '../../answers.ts';
import { requester } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { findHost, HOST_ADMIN } from './cordon.ts';

export default defineRoute({
  ...HOST_ADMIN,
  method: 'post',
  path: '/v1/regions/{region}/hosts/{host}/drift/clean',
  job: 'drift-clean',
  summary: 'Remove the leftovers a host’s drift report lists (admin)',
  description:
    'Only what the report lists and a re-check on the host confirms goes: files are removed, managed domains without a disk undefined, names without a VM freed. Never an unmanaged domain, anything of a VM with a job queued or running, or a file younger than `worker.drift_grace_ms`. The job’s result lists what was removed.',
  request: { params: HostPath },
  responses: { 202: { description: 'Accepted: the job', schema: JobView, headers: { Location: 'The job', 'Retry-After': 'Seconds before looking' } } },
  handler: async (c, s, { params }) => {
    const { region, host } = findHost(s, params);
    const job = await s.queues.submit({ kind: 'drift-clean', region: region.region_name, host, ...requester(c) });
    return accepted(c, job);
  },
});
