/** `POST /ui/vms/{region}/{name}/snapshots[/{snapshot}/revert|delete]`: the snapshot actions, through the API's snapshot routes. */
import type { JobView } from '@provisioner/contracts/api';
import { callApi, defineUiRoute, field, params, seg, UI_PATH } from '../context.ts';
import { afterSubmit, vmPath } from '../submit.ts';

export const createSnapshot = defineUiRoute({
  method: 'post',
  path: `${UI_PATH}/vms/:region/:name/snapshots`,
  auth: 'write',
  handler: async (c, ui) => {
    const { region, name } = params(c);
    const snapshot = field(await c.req.parseBody(), 'name').trim();
    const r = await callApi<JobView>(c, ui, 'POST', `/v1/vms/${seg(region)}/${seg(name)}/snapshots`, { name: snapshot });
    return afterSubmit(c, r, vmPath(region, name), vmPath(region, name));
  },
});

export const revertSnapshot = defineUiRoute({
  method: 'post',
  path: `${UI_PATH}/vms/:region/:name/snapshots/:snapshot/revert`,
  auth: 'write',
  handler: async (c, ui) => {
    const { region, name, snapshot } = params(c);
    const r = await callApi<JobView>(c, ui, 'POST', `/v1/vms/${seg(region)}/${seg(name)}/snapshots/${seg(snapshot)}/revert`, {});
    return afterSubmit(c, r, vmPath(region, name), vmPath(region, name));
  },
});

export const deleteSnapshot = defineUiRoute({
  method: 'post',
  path: `${UI_PATH}/vms/:region/:name/snapshots/:snapshot/delete`,
  auth: 'write',
  handler: async (c, ui) => {
    const { region, name, snapshot } = params(c);
    const r = await callApi<JobView>(c, ui, 'DELETE', `/v1/vms/${seg(region)}/${seg(name)}/snapshots/${seg(snapshot)}`, {});
    return afterSubmit(c, r, vmPath(region, name), vmPath(region, name));
  },
});
