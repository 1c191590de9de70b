/**
 * `GET /ui/vms/{region}/{name}/state`: what app.js needs to keep the VM's page current without a reload:
 * the VM's state, transition, address and ETag, and each live section of the page rendered now (the page's
 * own functions, so escaped the same way), with its key. A VM that is gone answers its sections too (the
 * state `deleted`, no actions, its jobs still listed).
 */
import { defineUiRoute, params, UI_PATH } from '../context.ts';
import { liveSections, loadVm } from './vm.ts';

export default defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/vms/:region/:name/state`,
  auth: 'read',
  handler: async (c, ui) => {
    const { region, name } = params(c);
    const loaded = await loadVm(c, ui, region, name);
    // Any other error than a VM not found (an outage, a lost scope) is the poll's to retry, not a page to draw.
    if (loaded.error && loaded.error.status !== 404) return c.json({ error: { message: loaded.error.message } }, loaded.error.status as 503);
    const sections = liveSections(c.get('session'), region, name, loaded.error ? { gone: loaded.error.message, jobs: loaded.jobs } : loaded.view);
    const vm = loaded.view?.vm ?? null;
    return c.json({
      state: vm ? vm.state : 'deleted',
      transition: vm?.transition ?? null,
      ip: vm?.ip ?? null,
      etag: loaded.view?.etag ?? null,
      sections: Object.fromEntries(Object.entries(sections).map(([k, v]) => [k, v.value])),
    });
  },
});
