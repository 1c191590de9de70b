/** `GET /ui/vms/{region}/{name}/delete`: asks for the VM's name before deleting it (no script needed). */
import { defineUiRoute, params, UI_PATH } from '../context.ts';
import { html } from '../html.ts';
import { csrfField, page } from '../layout.ts';
import { vmPath } from '../submit.ts';

export default defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/vms/:region/:name/delete`,
  auth: 'write',
  handler: (c) => {
    const { region, name } = params(c);
    const base = vmPath(region, name);
    const body = html`<h1>Delete ${name}?</h1>
<section><p>This deletes the VM <strong>${name}</strong> in ${region} and its disks and snapshots. It cannot be undone.</p>
<form method="post" action="${base}/delete">${csrfField(c.get('session'))}
<label for="confirm">Type the VM’s name to confirm</label>
<input id="confirm" name="confirm" required autocomplete="off">
<p class="actions"><button type="submit" class="danger">Delete for good</button> <a href="${base}">Cancel</a></p>
</form></section>`;
    return c.html(page(`Delete ${name}`, c.get('session'), body).value);
  },
});
