/**
 * `POST /ui/vms/{region}/{name}/tags`: replaces the VM's tags from the form's `key=value` lines (the API's
 * PUT …/tags validates them; an owner-bound token's owner tag is kept by it).
 */
import type { JobView } from '@provisioner/contracts/api';
import type { ApiResult } from '../api.ts';
import { callApi, defineUiRoute, field, params, seg, UI_PATH } from '../context.ts';
import { afterSubmit, vmPath } from '../submit.ts';

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
    const parsed = parseTagLines(field(await c.req.parseBody(), 'tags'));
    const r: ApiResult<JobView> =
      'error' in parsed
        ? { ok: false, status: 422, error: { code: 'VALIDATION', message: parsed.error } }
        : await callApi<JobView>(c, ui, 'PUT', `/v1/vms/${seg(region)}/${seg(name)}/tags`, { tags: parsed.tags });
    return afterSubmit(c, r, vmPath(region, name), vmPath(region, name));
  },
});
