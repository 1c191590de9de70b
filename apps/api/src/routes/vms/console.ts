/**
 * `GET /v1/vms/{region}/{name}/console`: the tail of the VM's serial console log, as text. The API opens
 * no SSH: a `console` host job reads it (it does not wait in the VM's line of operations, so a console is
 * read while a create waits for its guest) and leaves the text encrypted in Redis for a minute at most;
 * this request takes it from there. Consoles can show generated passwords: write scope, owner scoping,
 * never cached.
 */
import { ConsoleQuery, VmPath } from '@provisioner/contracts/api';
import { jobLocation } from '../../answers.ts';
import { callerOwner, requester } from '../../caller.ts';
import { ApiError, JOB_FAILURE, jobFailure, vmNotFound } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { resolveTarget, vmOwner } from '../../services/operate-vm.ts';
import { pathTarget } from './operate.ts';

/** How long the request waits for the host to read the log (it may be busy with other operations). */
export const CONSOLE_WAIT_MS = 15_000;

export default defineRoute({
  method: 'get',
  path: '/v1/vms/{region}/{name}/console',
  tag: 'vms',
  summary: 'Read the end of a VM’s serial console log',
  description:
    'The last `tail_bytes` of what the VM wrote to its serial console (boot messages, cloud-init’s, a login prompt), as `text/plain`, read from the host for this request (`Cache-Control: no-store`). Consoles can show generated passwords: this needs the `write` scope (besides `read`, as every GET), and an owner-bound token sees only its VMs’ consoles. 404 when the VM has no console log yet (it never started); 504 with the job’s link when the host did not answer within 15 s.',
  auth: 'write',
  needsRedis: true,
  request: { params: VmPath, query: ConsoleQuery },
  responses: {
    200: {
      description: 'The end of the console log (UTF-8; bytes that are not are replaced)',
      contentType: 'text/plain; charset=utf-8',
      headers: { 'Cache-Control': '`no-store`', 'X-Content-Type-Options': '`nosniff`: a browser never reads the guest’s text as HTML or script' },
    },
  },
  errors: ['NOT_FOUND', 'VALIDATION', 'JOB_FAILED', 'TIMEOUT'],
  handler: async (c, s, { params, query: q }) => {
    const t = pathTarget(params);
    const region = resolveTarget(s, t, 'path');
    const loc = await s.inventory.locate(region, t.vm_name);
    const owner = callerOwner(c);
    const vmOwnerTag = loc ? await vmOwner(s, t.region, t.vm_name, loc.vm) : undefined;
    if (!loc || (owner !== null && vmOwnerTag !== owner)) throw vmNotFound(t.region, t.vm_name);
    if (!loc.vm) throw new ApiError('NOT_FOUND', `VM ${t.region}/${t.vm_name} has no console log yet: its create has not run`);
    const job = await s.queues.submit({
      kind: 'console',
      region: region.region_name,
      host: loc.host,
      vm_name: t.vm_name,
      tail_bytes: q.tail_bytes,
      ...requester(c),
      ...(vmOwnerTag !== undefined ? { owner: vmOwnerTag } : {}),
    });
    const id = String(job.id);
    // A completed console job is removed at once (the watch then ends with the last view it saw): the text is the answer.
    const view = await s.watcher.waitFor(s.queues.get(job.queueName), id, CONSOLE_WAIT_MS);
    const tail = await s.console.take(id);
    // A failed read is removed with its end (it takes no place among the operations' failures): its error is the answer.
    if (tail && 'error' in tail) throw new ApiError(JOB_FAILURE[tail.error.code], tail.error.message, { jobId: id, details: { job_error: tail.error } });
    if (tail === undefined) {
      if (view?.state === 'failed' || view?.state === 'canceled') throw jobFailure(id, view.error, jobLocation(id));
      if (await s.queues.find(id))
        throw new ApiError('TIMEOUT', `the host did not read the console within ${CONSOLE_WAIT_MS / 1000} s; follow ${jobLocation(id)}`, {
          jobId: id,
          headers: { Location: jobLocation(id) },
        });
      throw new ApiError('JOB_FAILED', 'the console job ended without its text', { jobId: id });
    }
    if (tail === null) throw new ApiError('NOT_FOUND', `VM ${t.region}/${t.vm_name} has no console log yet (it has not been started since it was created)`);
    c.header('Cache-Control', 'no-store');
    c.header('Content-Type', 'text/plain; charset=utf-8');
    // The text is the guest's: a browser opening this URL must not sniff an HTML page (and its script) out of it.
    c.header('X-Content-Type-Options', 'nosniff');
    return c.body(tail.text, 200);
  },
});
