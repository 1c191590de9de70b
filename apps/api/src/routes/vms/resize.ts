/** `POST /v1/vms/{region}/{name}/resize`: another instance type's vCPUs, memory and disk (the disk only grows). */
import { ResizeBody } from '@provisioner/contracts/api';
import { accepted } from '../../answers.ts';
import { withCallback } from '../../callbacks.ts';
import { callerOwner } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { submitResize } from '../../services/resize-vm.ts';
import { pathTarget, VM_OP, VmPath } from './operate.ts';

export default defineRoute({
  ...VM_OP,
  method: 'post',
  path: '/v1/vms/{region}/{name}/resize',
  job: 'resize',
  summary:
    'Resize a VM to another instance type (vCPUs, memory, disk; disks only grow). A running VM is shut down, changed and started again; a stopped one stays stopped',
  errors: ['NOT_FOUND', 'VALIDATION', 'CONFLICT'],
  request: { params: VmPath, body: ResizeBody },
  handler: async (c, s, { params, body: b }) =>
    accepted(
      c,
      await submitResize(
        s,
        pathTarget(params),
        { instance_type: b.instance_type, force: b.force, timeout_ms: b.timeout_ms ?? s.config.worker.stop_timeout_ms },
        withCallback(s, c, b),
        callerOwner(c),
      ),
    ),
});
