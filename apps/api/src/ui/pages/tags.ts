/**
 * `POST /ui/vms/{region}/{name}/tags`: replaces the VM's tags from the form's `key=value` lines (the API's
 * PUT …/tags validates them; an owner-bound token's owner tag is kept by it), sent with `If-Match`: the
 * ETag the form was drawn from. When the VM changed since (the API's 412), nothing is saved: the page
 * comes back with the tags as they are now, the person's lines kept in the editor, and says so.
 */
import type { JobView } from '@provisioner/contracts/api';
import type { ApiResult } from '../api.ts';
import { callApi, defineUiRoute, field, params, seg, UI_PATH } from '../context.ts';
import { html } from '../html.ts';
import { errorBox, page } from '../layout.ts';
import { afterSubmit, vmPath } from '../submit.ts';
import { loadVm, vmPageHtml } from './vm.ts';

export const CHANGED_MEANWHILE =
  'The tags changed meanwhile (another edit or an operation on the VM came first): yours were not saved. The tags above are the VM’s now; your lines are kept below. Save again to replace them.';

/** `key=value` lines (split at the first `=`; blank lines skipped) → tags, or the first line that is not one. */
export function parseTagLines(text: string): { tags: Record<string, string> } | { error: string } {
  const tags: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return { error: `tags: line ${i + 1} is not key=value` };
    tags[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return { tags };
}

export default defineUiRoute({
  method: 'post',
  path: `${UI_PATH}/vms/:region/:name/tags`,
  auth: 'write',
  handler: async (c, ui) => {
    const { region, name } = params(c);
    const form = await c.req.parseBody();
    const text = field(form, 'tags');
    const parsed = parseTagLines(text);
    // A form without the version it was drawn from (a page of an older build) is stale by definition.
    const etag = field(form, 'etag') || '"0.none"';
    const r: ApiResult<JobView> =
      'error' in parsed
        ? { ok: false, status: 422, error: { code: 'VALIDATION', message: parsed.error } }
        : await callApi<JobView>(c, ui, 'PUT', `/v1/vms/${seg(region)}/${seg(name)}/tags`, { tags: parsed.tags }, { ifMatch: etag });
    if (r.ok || r.error.code !== 'PRECONDITION_FAILED') return afterSubmit(c, r, vmPath(region, name), vmPath(region, name));
    const now = await loadVm(c, ui, region, name);
    if (now.error) {
      const body = html`<h1>Not done</h1>${errorBox(`${CHANGED_MEANWHILE} ${now.error.message}`)}<p><a href="${vmPath(region, name)}">Back</a></p>`;
      return c.html(page('Not done', c.get('session'), body).value, 412);
    }
    return c.html(vmPageHtml(c.get('session'), region, name, now.view, null, { message: CHANGED_MEANWHILE, text }), 412);
  },
});
