/** `GET /ui/vms/{region}/{name}/state`: the VM's state, transition and address as JSON, for app.js to keep its page current. */
import type { VmItem } from '@provisioner/contracts/api';
import { callApi, defineUiRoute, params, seg, UI_PATH } from '../context.ts';

export default defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/vms/:region/:name/state`,
  auth: 'read',
  handler: async (c, ui) => {
    const r = await callApi<VmItem>(c, ui, 'GET', `/v1/vms/${seg(params(c).region)}/${seg(params(c).name)}`);
    if (!r.ok) return c.json({ error: { code: r.error.code, message: r.error.message } }, r.status as 404);
    const { state, transition, ip } = r.body;
    return c.json({ state, transition, ip });
  },
});
