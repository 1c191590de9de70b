/** `POST /v1/vms`: validates a create, places it, reserves the name and queues the job (202). */

import { CreateBody, JobView } from '@provisioner/contracts/api';
import { accepted } from '../../answers.ts';
import { withCallback } from '../../callbacks.ts';
import { callerOwner } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { ACCEPTED_HEADERS } from '../../schemas.ts';
import { submitCreate } from '../../services/create-vm.ts';

export default defineRoute({
  method: 'post',
  path: '/v1/vms',
  job: 'create',
  tag: 'vms',
  summary: 'Create a VM',
  description:
    'Validates against the configuration, picks a host, reserves the name and queues a `create` job. `user_data` is base64 of one YAML document (cloud-init); it is stored encrypted and never returned.',
  auth: 'write',
  needsRedis: true,
  request: { body: CreateBody },
  responses: { 202: { description: 'Accepted: the create job', schema: JobView, headers: ACCEPTED_HEADERS } },
  errors: ['CONFLICT', 'VALIDATION'],
  handler: async (c, s, { body: b }) => accepted(c, await submitCreate(s, b, withCallback(s, c, b), callerOwner(c))),
});
