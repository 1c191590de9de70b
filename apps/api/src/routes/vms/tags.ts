/** `PUT /v1/vms/{region}/{name}/tags`: replaces the VM's tags (an owner-bound token's owner kept in). */
import { TagsBody } from '@provisioner/contracts/api';
import { callerOwner, ownedTags } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { submitOp, VM_OP, VmPath } from './operate.ts';

export default defineRoute({
  ...VM_OP,
  method: 'put',
  path: '/v1/vms/{region}/{name}/tags',
  job: 'edit-tags',
  summary: 'Replace a VM’s tags',
  request: { params: VmPath, body: TagsBody },
  handler: (c, s, b) => submitOp(s, c, { kind: 'edit-tags', tags: ownedTags(callerOwner(c), b.tags) }, b),
});
