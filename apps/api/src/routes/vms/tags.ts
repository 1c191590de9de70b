/**
 * `PUT /v1/vms/{region}/{name}/tags`: replaces the VM's tags (an owner-bound token's owner kept in).
 * With `If-Match` (the ETag of `GET /v1/vms/{region}/{name}`) it is refused with 412, the current tags and
 * ETag in the body, when the VM changed since that read: a form or a client that read the tags, changed
 * them and writes them back never overwrites a change it did not see. Without `If-Match` it replaces the
 * tags whatever they are now, as it always did (scripts that set tags outright).
 */
import { TagsBody } from '@provisioner/contracts/api';
import { SeqMismatchError } from '@provisioner/store';
import { z } from 'zod';
import { accepted } from '../../answers.ts';
import { withCallback } from '../../callbacks.ts';
import { callerOwner, ownedTags } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { submitVmOp } from '../../services/operate-vm.ts';
import { ifMatchAdmits, readVm, staleVersion } from '../../services/read-vm.ts';
import { pathTarget, submitOp, VM_OP, VmPath } from './operate.ts';

export const TagsHeaders = z.object({
  'if-match': z.string().optional().meta({
    description:
      'The ETag of the read the new tags were built from (`GET /v1/vms/{region}/{name}`), or `*` (any current version). A stale one is 412 with the current `tags` and `etag` in `error.details`. Without it the tags are replaced whatever they are now.',
    example: '"7.q3Jx0m6TtVbQ9wYkPz1a2b"',
  }),
});

export default defineRoute({
  ...VM_OP,
  method: 'put',
  path: '/v1/vms/{region}/{name}/tags',
  job: 'edit-tags',
  summary: 'Replace a VM’s tags',
  request: { params: VmPath, headers: TagsHeaders, body: TagsBody },
  errors: [...VM_OP.errors, 'PRECONDITION_FAILED'],
  handler: async (c, s, { params, body: b }) => {
    const op = { kind: 'edit-tags' as const, tags: ownedTags(callerOwner(c), b.tags) };
    const ifMatch = c.req.header('if-match');
    if (ifMatch === undefined) return submitOp(s, c, params, op, b);
    const t = pathTarget(params);
    const read = await readVm(s, t, callerOwner(c));
    if (!ifMatchAdmits(ifMatch, read.etag)) throw staleVersion(t, read);
    try {
      // The seq read with the ETag is checked again where the job is recorded: of two writers holding the
      // same read, one passes. `*` asks for no particular version.
      const expectSeq = ifMatch.trim() === '*' ? undefined : read.seq;
      const job = await submitVmOp(s, { target: t, op, by: withCallback(s, c, b), where: 'path', owner: callerOwner(c), expectSeq });
      return accepted(c, job);
    } catch (e) {
      if (e instanceof SeqMismatchError) throw staleVersion(t, await readVm(s, t, callerOwner(c)));
      throw e;
    }
  },
});
