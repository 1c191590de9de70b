/** `POST /ui/vms/{region}/{name}/delete`: deletes the VM (the API's DELETE) once its name was typed to confirm. */
import type { JobView } from '@provisioner/contracts/api';
import { callApi, defineUiRoute, field, params, seg, UI_PATH } from '../context.ts';
import { afterSubmit, vmPath } from '../submit.ts';

export default defineUiRoute({
  method: 'post',
  path: `${UI_PATH}/vms/:region/:name/delete`,
  auth: 'write',
  handler: async (c, ui) => {
    const { region, name } = params(c);
    const base = vmPath(region, name);
    if (field(await c.req.parseBody(), 'confirm').trim() !== name) {
      return afterSubmit(
        c,
        { ok: false, status: 422, error: { code: 'VALIDATION', message: 'confirm: type the VM’s name to delete it' } },
        base,
        `${base}/delete`,
      );
    }
    const r = await callApi<JobView>(c, ui, 'DELETE', `/v1/vms/${seg(region)}/${seg(name)}`, {});
    return afterSubmit(c, r, base, base);
  },
});
