/**
 * `GET /ui/vms`: a table of VMs per region (name, state, address, instance type, image, owner, age),
 * filtered by region, state, tag (`key=value` or `key`) and name (a part of it). The list is the API's
 * GET /v1/vms as the session's token (an owner-bound token's VMs only); the age is since the VM's
 * create job, while that job is kept.
 */
import { VM_STATES } from '@provisioner/contracts';
import type { JobPage, Region, VmItem, VmPage } from '@provisioner/contracts/api';
import { callApi, defineUiRoute, UI_PATH, type UiSession } from '../context.ts';
import { html, type SafeHtml } from '../html.ts';
import { age, errorBox, page, stateBadge } from '../layout.ts';

export interface Filters {
  region: string;
  state: string;
  tag: string;
  name: string;
}

/** The API query for the filters (the name filter is applied here: the API has none). */
export function listQuery(f: Filters): string {
  const q = new URLSearchParams({ limit: '500' });
  if (f.region) q.set('region', f.region);
  if (f.state) q.set('state', f.state);
  if (f.tag) q.append('tag', f.tag);
  return q.toString();
}

function filterForm(f: Filters, regions: Region[]): SafeHtml {
  const option = (value: string, selected: string, label = value) =>
    html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;
  return html`<form class="filters" method="get" action="${UI_PATH}/vms">
<label>Region<select name="region">${option('', f.region, 'all')}${regions.map((r) => option(r.region_name, f.region))}</select></label>
<label>State<select name="state">${option('', f.state, 'any')}${VM_STATES.map((s) => option(s, f.state))}</select></label>
<label>Tag<input name="tag" value="${f.tag}" placeholder="key=value"></label>
<label>Name<input name="name" value="${f.name}" placeholder="part of the name"></label>
<button type="submit">Filter</button>
</form>`;
}

function vmRow(v: VmItem, created: Map<string, string>): SafeHtml {
  const key = `${v.region_name}/${v.vm_name}`;
  return html`<tr data-vm="${v.vm_name}">
<td><a href="${UI_PATH}/vms/${encodeURIComponent(v.region_name)}/${encodeURIComponent(v.vm_name)}">${v.vm_name}</a>${Object.entries(v.tags).length ? html`<br>${Object.entries(v.tags).map(([k, val]) => html`<span class="tag">${k}=${val}</span>`)}` : ''}</td>
<td>${stateBadge(v.state)}${v.transition ? html` <span class="muted">${v.transition.kind}…</span>` : ''}</td>
<td>${v.ip ?? '—'}</td>
<td>${v.instance_type ?? '—'}</td>
<td class="opt">${v.image ?? '—'}</td>
<td class="opt">${v.tags.owner ?? '—'}</td>
<td class="opt">${age(created.get(key))}</td>
</tr>`;
}

function regionTable(region: string, vms: VmItem[], created: Map<string, string>): SafeHtml {
  return html`<section>
<h2>${region} <span class="muted">${vms.length} VM${vms.length === 1 ? '' : 's'}</span></h2>
<div class="table-wrap"><table>
<thead><tr><th>Name</th><th>State</th><th>Address</th><th>Type</th><th class="opt">Image</th><th class="opt">Owner</th><th class="opt">Age</th></tr></thead>
<tbody>${vms.length ? vms.map((v) => vmRow(v, created)) : html`<tr><td colspan="7" class="muted">No VMs.</td></tr>`}</tbody>
</table></div>
</section>`;
}

export function vmListPage(session: UiSession, f: Filters, regions: Region[], vms: VmItem[], created: Map<string, string>, error: string | null): string {
  const shown = regions.filter((r) => !f.region || r.region_name === f.region);
  const named = vms.filter((v) => !f.name || v.vm_name.includes(f.name));
  return page(
    'VMs',
    session,
    html`<h1>VMs</h1>
${errorBox(error)}
${filterForm(f, regions)}
${shown.map((r) =>
  regionTable(
    r.region_name,
    named.filter((v) => v.region_name === r.region_name),
    created,
  ),
)}`,
  ).value;
}

export default defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/vms`,
  auth: 'read',
  handler: async (c, ui) => {
    const f: Filters = {
      region: c.req.query('region') ?? '',
      state: c.req.query('state') ?? '',
      tag: c.req.query('tag') ?? '',
      name: c.req.query('name') ?? '',
    };
    const [regions, list, creates] = await Promise.all([
      callApi<Region[]>(c, ui, 'GET', '/v1/regions'),
      callApi<VmPage>(c, ui, 'GET', `/v1/vms?${listQuery(f)}`),
      callApi<JobPage>(c, ui, 'GET', '/v1/jobs?kind=create&state=succeeded&limit=500'),
    ]);
    const created = new Map<string, string>();
    // Newest first: the VM's latest create (a name used again) wins.
    for (const j of creates.ok ? [...creates.body.jobs].reverse() : []) created.set(`${j.target.region}/${j.target.vm_name}`, j.finished_at ?? j.created_at);
    const error = !list.ok ? list.error.message : !regions.ok ? regions.error.message : null;
    return c.html(
      vmListPage(c.get('session'), f, regions.ok ? regions.body : [], list.ok ? list.body.vms : [], created, error),
      list.ok ? 200 : (list.status as 422),
    );
  },
});
