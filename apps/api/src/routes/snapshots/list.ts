/** `GET /v1/vms/{region}/{name}/snapshots`: the VM's snapshots, from the inventory. */
import { SnapshotList, VmPath } from '@provisioner/contracts/api';
import { callerOwner } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { listSnapshots } from '../../services/snapshots.ts';
import { pathTarget } from '../vms/operate.ts';

export default defineRoute({
  method: 'get',
  path: '/v1/vms/{region}/{name}/snapshots',
  tag: 'vms',
  summary: 'List a VM’s snapshots',
  description: 'From the inventory, which the workers update after every operation on the VM; oldest first.',
  auth: 'read',
  needsRedis: true,
  request: { params: VmPath },
  responses: { 200: { description: 'Its snapshots', schema: SnapshotList } },
  errors: ['NOT_FOUND', 'VALIDATION'],
  handler: async (c, s, { params }) => c.json({ snapshots: await listSnapshots(s, pathTarget(params), callerOwner(c)) }),
});
