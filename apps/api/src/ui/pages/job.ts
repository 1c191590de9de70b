/** `GET /ui/jobs/{id}`: one job with its progress and steps, followed live by app.js while it runs. */
import type { JobView } from '@provisioner/contracts/api';
import { callApi, defineUiRoute, params, seg, UI_PATH } from '../context.ts';
import { html } from '../html.ts';
import { errorBox, jobPanel, page } from '../layout.ts';
import { vmPath } from '../submit.ts';

export default defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/jobs/:id`,
  auth: 'read',
  handler: async (c, ui) => {
    const r = await callApi<JobView>(c, ui, 'GET', `/v1/jobs/${seg(params(c).id)}`);
    if (!r.ok) return c.html(page('Job', c.get('session'), html`<h1>Job</h1>${errorBox(r.error.message)}`).value, r.status as 404);
    const j = r.body;
    const vm = j.target.vm_name ? html`<p><a href="${vmPath(j.target.region, j.target.vm_name)}">${j.target.vm_name}</a></p>` : '';
    return c.html(page(`Job ${j.kind}`, c.get('session'), html`<h1>Job ${j.kind}</h1>${vm}${jobPanel(j)}`).value);
  },
});
