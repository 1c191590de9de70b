/** `POST /ui/vms/{region}/{name}/{start|stop|reboot}`: queues the operation (the API's route), then shows it on the VM's page. */
import type { JobView } from '@provisioner/contracts/api';
import { callApi, defineUiRoute, params, seg, UI_PATH } from '../context.ts';
import { afterSubmit, vmPath } from '../submit.ts';

const OPS = new Set(['start', 'stop', 'reboot']);

export default defineUiRoute({
  method: 'post',
  path: `${UI_PATH}/vms/:region/:name/:op`,
  auth: 'write',
  handler: async (c, ui) => {
    const { region, name, op } = params(c);
    if (!OPS.has(op)) return c.notFound();
    const r = await callApi<JobView>(c, ui, 'POST', `/v1/vms/${seg(region)}/${seg(name)}/${op}`, {});
    return afterSubmit(c, r, vmPath(region, name), vmPath(region, name));
  },
});
