/**
 * `GET /ui/vms/{region}/{name}/console`: the end of the VM's serial console log, read from its host now
 * (the API's GET …/console: write scope, owner scoping), shown as escaped text.
 */
import { callApi, defineUiRoute, params, seg, UI_PATH } from '../context.ts';
import { html } from '../html.ts';
import { errorBox, page } from '../layout.ts';
import { vmPath } from '../submit.ts';

export default defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/vms/:region/:name/console`,
  auth: 'write',
  handler: async (c, ui) => {
    const { region, name } = params(c);
    const r = await callApi<string>(c, ui, 'GET', `/v1/vms/${seg(region)}/${seg(name)}/console?tail_bytes=65536`);
    const body = html`<h1>Console of <a href="${vmPath(region, name)}">${name}</a></h1>
${r.ok ? html`<p class="muted">The last 64 KiB, read from the host just now. <a href="">Read again</a></p><pre class="console" data-console>${r.body}</pre>` : errorBox(r.error.message)}`;
    return c.html(page(`Console of ${name}`, c.get('session'), body).value, r.ok ? 200 : (r.status as 404));
  },
});
