/**
 * `GET /ui/vms/{region}/{name}`: one VM — its details, tags, recent jobs, snapshots, a link to its
 * console log, and the actions its token may do (none for a read-only token). `?job=` shows that job's
 * progress live; the VM's state is kept current by app.js polling …/state.
 */
import type { JobPage, JobView, VmItem } from '@provisioner/contracts/api';
import { callApi, canWrite, defineUiRoute, params, seg, UI_PATH, type UiSession } from '../context.ts';
import { html, type SafeHtml } from '../html.ts';
import { age, csrfField, errorBox, jobPanel, page, stateBadge } from '../layout.ts';
import { vmPath } from '../submit.ts';

function actions(session: UiSession, vm: VmItem, base: string): SafeHtml {
  const button = (op: string, label: string, cls = '') =>
    html`<form method="post" action="${base}/${op}">${csrfField(session)}<button type="submit" class="${cls}" data-action="${op}">${label}</button></form>`;
  // A paused VM (virsh suspend, an I/O error) can be started (resumed), stopped and rebooted.
  const active = vm.state === 'running' || vm.state === 'paused';
  return html`<section><h2>Actions</h2><div class="actions">
${vm.state !== 'running' && vm.state !== 'pending' ? button('start', 'Start') : ''}
${active ? button('stop', 'Stop', 'secondary') : ''}
${active ? button('reboot', 'Reboot', 'secondary') : ''}
<a href="${base}/delete" data-action="delete">Delete…</a>
</div></section>`;
}

function tagsSection(session: UiSession, vm: VmItem, base: string): SafeHtml {
  const entries = Object.entries(vm.tags);
  const list = entries.length
    ? html`<p class="tags">${entries.map(([k, v]) => html`<span class="tag">${k}=${v}</span>`)}</p>`
    : html`<p class="muted">No tags.</p>`;
  if (!canWrite(session)) return html`<section><h2>Tags</h2>${list}</section>`;
  const text = entries.map(([k, v]) => `${k}=${v}`).join('\n');
  return html`<section><h2>Tags</h2>${list}
<form method="post" action="${base}/tags">${csrfField(session)}
<label for="tags">One <code>key=value</code> per line (replaces all tags)</label>
<textarea id="tags" name="tags" rows="4">${text}</textarea>
<p><button type="submit">Save tags</button></p>
</form></section>`;
}

function snapshotsSection(session: UiSession, vm: VmItem, base: string): SafeHtml {
  const write = canWrite(session);
  const rows = vm.snapshots.map(
    (s) => html`<tr><td>${s.name}</td><td>${s.state}</td><td class="opt">${s.instance_type ?? '—'}</td><td>${age(s.created_at)} ago</td>
<td>${
      write
        ? html`<div class="actions"><form method="post" action="${base}/snapshots/${encodeURIComponent(s.name)}/revert">${csrfField(session)}<button type="submit" class="secondary">Revert</button></form>
<form method="post" action="${base}/snapshots/${encodeURIComponent(s.name)}/delete">${csrfField(session)}<button type="submit" class="danger">Delete</button></form></div>`
        : ''
    }</td></tr>`,
  );
  return html`<section><h2>Snapshots</h2>
${vm.snapshots.length ? html`<div class="table-wrap"><table><thead><tr><th>Name</th><th>VM state</th><th class="opt">Type</th><th>Taken</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>` : html`<p class="muted">No snapshots.</p>`}
${write ? html`<form method="post" action="${base}/snapshots" class="filters">${csrfField(session)}<label>New snapshot<input name="name" required pattern="[a-z0-9-]{1,63}" placeholder="before-upgrade"></label><button type="submit">Take snapshot</button></form>` : ''}
</section>`;
}

function jobsSection(jobs: JobView[]): SafeHtml {
  return html`<section><h2>Recent jobs</h2>
${
  jobs.length
    ? html`<div class="table-wrap"><table><thead><tr><th>Kind</th><th>State</th><th>Progress</th><th>Created</th></tr></thead><tbody>
${jobs.map((j) => html`<tr><td><a href="${UI_PATH}/jobs/${j.id}">${j.kind}</a></td><td>${stateBadge(j.state)}</td><td>${Math.round(j.progress)}%</td><td>${age(j.created_at)} ago</td></tr>`)}
</tbody></table></div>`
    : html`<p class="muted">No jobs kept for this VM.</p>`
}</section>`;
}

function details(vm: VmItem): SafeHtml {
  return html`<section><h2>Details</h2><dl>
<dt>Region</dt><dd>${vm.region_name}</dd>
<dt>Host</dt><dd>${vm.host}</dd>
<dt>Address</dt><dd data-vm-ip>${vm.ip ?? '—'}</dd>
<dt>All addresses</dt><dd>${vm.addresses.length ? vm.addresses.map((a) => html`${a.ip} <span class="muted">(${a.source})</span> `) : '—'}</dd>
<dt>Instance type</dt><dd>${vm.instance_type ?? '—'}</dd>
<dt>CPUs / memory</dt><dd>${vm.vcpus ?? '—'} vCPU · ${vm.memory_mb ?? '—'} MiB</dd>
<dt>Image</dt><dd>${vm.image ?? '—'}</dd>
<dt>Owner</dt><dd>${vm.tags.owner ?? '—'}</dd>
<dt>Guest</dt><dd>${vm.guest.ready ? 'ready' : `cloud-init ${vm.guest.cloud_init}, agent ${vm.guest.agent}`}</dd>
<dt>Observed</dt><dd>${vm.observed_at ? `${age(vm.observed_at)} ago` : '—'}</dd>
</dl></section>`;
}

export function vmPageHtml(session: UiSession, vm: VmItem, jobs: JobView[], job: JobView | null): string {
  const base = vmPath(vm.region_name, vm.vm_name);
  const write = canWrite(session);
  return page(
    vm.vm_name,
    session,
    html`<div data-poll="${base}/state">
<h1>${vm.vm_name} ${stateBadge(vm.state, html`data-vm-state`)} <span class="muted" data-vm-transition>${vm.transition ? `${vm.transition.kind}: ${vm.transition.detail ?? ''}` : ''}</span></h1>
${job ? jobPanel(job) : ''}
${details(vm)}
${write ? actions(session, vm, base) : ''}
${tagsSection(session, vm, base)}
<section><h2>Console log</h2>${
      write
        ? html`<p><a href="${base}/console" data-action="console">Read the console log</a> <span class="muted">(read from the host now; it may show generated passwords)</span></p>`
        : html`<p class="muted">Reading the console needs a token with the write scope.</p>`
    }</section>
${snapshotsSection(session, vm, base)}
${jobsSection(jobs)}
</div>`,
  ).value;
}

export default defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/vms/:region/:name`,
  auth: 'read',
  handler: async (c, ui) => {
    const region = params(c).region;
    const name = params(c).name;
    const jobId = c.req.query('job');
    const [vm, jobs, job] = await Promise.all([
      callApi<VmItem>(c, ui, 'GET', `/v1/vms/${seg(region)}/${seg(name)}`),
      callApi<JobPage>(c, ui, 'GET', `/v1/jobs?${new URLSearchParams({ region, vm_name: name, limit: '10' })}`),
      jobId ? callApi<JobView>(c, ui, 'GET', `/v1/jobs/${seg(jobId)}`) : null,
    ]);
    if (!vm.ok) {
      // A VM just deleted: its delete job still shows how it went.
      const body = html`<h1>${name}</h1>${errorBox(vm.error.message)}${job?.ok ? jobPanel(job.body) : ''}<p><a href="${UI_PATH}/vms">All VMs</a></p>`;
      return c.html(page(name, c.get('session'), body).value, vm.status as 404);
    }
    return c.html(vmPageHtml(c.get('session'), vm.body, jobs.ok ? jobs.body.jobs : [], job?.ok ? job.body : null));
  },
});
