/**
 * `GET /ui/vms/new?region=`: the create form, listing the region's instance types and the catalog's
 * images (the API's GET /v1/regions and /v1/images). Changing the region reloads the form.
 */
import type { Images, Region } from '@provisioner/contracts/api';
import { callApi, defineUiRoute, UI_PATH, type UiSession } from '../context.ts';
import { html } from '../html.ts';
import { csrfField, errorBox, page } from '../layout.ts';

export interface Catalog {
  regions: Region[];
  images: Images['images'];
}

export interface CreateForm {
  region: string;
  vm_name: string;
  instance_type: string;
  image: string;
  tags: string;
  user_data: string;
}

export function createFormHtml(session: UiSession, catalog: Catalog, f: CreateForm, error: string | null): string {
  const region = catalog.regions.find((r) => r.region_name === f.region) ?? catalog.regions[0];
  const opt = (value: string, selected: string, label: string) => html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;
  const body = html`<h1>New VM</h1>
${errorBox(error)}
<form method="get" action="${UI_PATH}/vms/new" class="filters">
<label>Region<select name="region">${catalog.regions.map((r) => opt(r.region_name, region?.region_name ?? '', r.region_name))}</select></label>
<button type="submit" class="secondary">Change region</button>
</form>
<section>
<form method="post" action="${UI_PATH}/vms">${csrfField(session)}
<input type="hidden" name="region" value="${region?.region_name ?? ''}">
<label for="vm_name">Name <span class="muted">(a lowercase DNS label)</span></label>
<input id="vm_name" name="vm_name" required pattern="[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?" value="${f.vm_name}">
<label for="instance_type">Instance type</label>
<select id="instance_type" name="instance_type">${(region?.available_instance_types ?? []).map((t) =>
    opt(t.instance_type, f.instance_type, `${t.instance_type} — ${t.vcpus} vCPU, ${t.memory_mb} MiB, ${t.storage_mb} MiB disk`),
  )}</select>
<label for="image">Image</label>
<select id="image" name="image">${catalog.images.map((i) => opt(i.name, f.image, i.name))}</select>
<label for="tags">Tags <span class="muted">(one key=value per line)</span></label>
<textarea id="tags" name="tags" rows="3">${f.tags}</textarea>
<label for="user_data">User-data <span class="muted">(optional cloud-init YAML)</span></label>
<textarea id="user_data" name="user_data" rows="6" placeholder="#cloud-config">${f.user_data}</textarea>
<p><button type="submit">Create</button></p>
</form>
</section>`;
  return page('New VM', session, body).value;
}

export async function readCatalog(c: Parameters<typeof callApi>[0], ui: Parameters<typeof callApi>[1]): Promise<Catalog> {
  const [regions, images] = await Promise.all([callApi<Region[]>(c, ui, 'GET', '/v1/regions'), callApi<Images>(c, ui, 'GET', '/v1/images')]);
  return { regions: regions.ok ? regions.body : [], images: images.ok ? images.body.images : [] };
}

export default defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/vms/new`,
  auth: 'write',
  handler: async (c, ui) => {
    const form: CreateForm = { region: c.req.query('region') ?? '', vm_name: '', instance_type: '', image: '', tags: '', user_data: '' };
    return c.html(createFormHtml(c.get('session'), await readCatalog(c, ui), form, null));
  },
});
