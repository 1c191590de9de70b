/**
 * `POST /ui/vms`: creates a VM from the form (the API's POST /v1/vms: validation, placement, an owner-bound
 * token's owner tag), then follows its create job on the VM's page; a refusal shows the form again with
 * the API's message and what was typed.
 */
import type { JobView } from '@provisioner/contracts/api';
import { callApi, defineUiRoute, field, UI_PATH } from '../context.ts';
import { vmPath } from '../submit.ts';
import { type CreateForm, createFormHtml, readCatalog } from './new-vm.ts';
import { parseTagLines } from './tags.ts';

export default defineUiRoute({
  method: 'post',
  path: `${UI_PATH}/vms`,
  auth: 'write',
  handler: async (c, ui) => {
    const body = await c.req.parseBody();
    const f: CreateForm = {
      region: field(body, 'region'),
      vm_name: field(body, 'vm_name').trim(),
      instance_type: field(body, 'instance_type'),
      image: field(body, 'image'),
      tags: field(body, 'tags'),
      user_data: field(body, 'user_data'),
    };
    const tags = parseTagLines(f.tags);
    let error: string;
    let status = 422;
    if ('error' in tags) error = tags.error;
    else {
      const r = await callApi<JobView>(c, ui, 'POST', '/v1/vms', {
        vm_name: f.vm_name,
        region_name: f.region,
        instance_type: f.instance_type,
        image: f.image,
        ...(Object.keys(tags.tags).length ? { tags: tags.tags } : {}),
        ...(f.user_data.trim() ? { user_data: Buffer.from(f.user_data).toString('base64') } : {}),
      });
      if (r.ok) return c.redirect(`${vmPath(f.region, f.vm_name)}?job=${encodeURIComponent(r.body.id)}`, 303);
      error = r.error.message;
      status = r.status;
    }
    return c.html(createFormHtml(c.get('session'), await readCatalog(c, ui), f, error), status as 422);
  },
});
