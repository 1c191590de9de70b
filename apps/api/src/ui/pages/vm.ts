/**
 * `GET /ui/vms/{region}/{name}`: one VM — its details, tags, recent jobs, snapshots, a link to its
 * console log, and the actions its token may do (none for a read-only token). `?job=` shows that job's
 * progress live. The page follows the VM without a reload: each part that can change is a `data-live`
 * section, which app.js replaces with the one …/state renders now (the same functions as here) when its
 * `data-key` differs; the tag editor is left alone while someone edits it.
 *
 * The tag form carries the ETag of the read it was drawn from: saving sends it as `If-Match`, so a form
 * drawn before another change is refused (412, shown as "changed meanwhile"), never saved over it.
 */
import { createHash } from 'node:crypto';
import type { JobPage, JobView, VmItem } from '@provisioner/contracts/api';
import type { Context } from 'hono';
import { callApi, canWrite, defineUiRoute, params, seg, UI_PATH, type UiDeps, type UiEnv, type UiSession } from '../context.ts';
import { html, type SafeHtml } from '../html.ts';
import { age, csrfField, errorBox, jobPanel, page, stateBadge } from '../layout.ts';
import { vmPath } from '../submit.ts';

/** What the page shows of a VM: the VM as the API reads it, with its ETag, and its recent jobs. */
export interface VmView {
  vm: VmItem;
  etag: string;
  jobs: JobView[];
}

/** A tag save refused because the VM changed since the form was drawn (412): why, and the person's own lines. */
export interface TagsConflict {
  message: string;
  text: string;
}

/**
 * A section app.js keeps current: `data-key` is a digest of what it shows, so an unchanged section is left
 * as it is (focus, a half-typed snapshot name). The forms' Idempotency-Keys are new at each drawing and
 * left out of the digest.
 */
function live(name: string, inner: SafeHtml | '', attrs: SafeHtml | '' = ''): SafeHtml {
  const key = createHash('sha256')
    .update(String(inner).replace(/ name="idem" value="[^"]*"/g, ''))
    .digest('base64url')
    .slice(0, 16);
  return html`<section data-live="${name}" data-key="${key}" ${attrs}>${inner}</section>`;
}

function head(vm: VmItem | null, name: string): SafeHtml {
  const t = vm?.transition;
  return html`<h1>${name} ${stateBadge(vm ? vm.state : 'deleted', html`data-vm-state`)} <span class="muted" data-vm-transition>${t ? `${t.kind}: ${t.detail ?? ''}` : ''}</span></h1>`;
}

function actions(session: UiSession, vm: VmItem, base: string): SafeHtml {
  const button = (op: string, label: string, cls = '') =>
    html`<form method="post" action="${base}/${op}">${csrfField(session)}<button type="submit" class="${cls}" data-action="${op}">${label}</button></form>`;
  // A paused VM (virsh suspend, an I/O error) can be started (resumed), stopped and rebooted.
  const active = vm.state === 'running' || vm.state === 'paused';
  return html`<h2>Actions</h2><div class="actions">
${vm.state !== 'running' && vm.state !== 'pending' ? button('start', 'Start') : ''}
${active ? button('stop', 'Stop', 'secondary') : ''}
${active ? button('reboot', 'Reboot', 'secondary') : ''}
<a href="${base}/delete" data-action="delete">Delete…</a>
</div>`;
}

function tagList(tags: Record<string, string>): SafeHtml {
  const entries = Object.entries(tags);
  return entries.length ? html`<p class="tags">${entries.map(([k, v]) => html`<span class="tag">${k}=${v}</span>`)}</p>` : html`<p class="muted">No tags.</p>`;
}

function tagsSection(session: UiSession, view: VmView, base: string, conflict: TagsConflict | null): SafeHtml {
  const { vm, etag } = view;
  if (!canWrite(session)) return live('tags', html`<h2>Tags</h2>${tagList(vm.tags)}`);
  const text = conflict
    ? conflict.text
    : Object.entries(vm.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n');
  // After a refused save the form holds the person's lines against the newer tags above it: app.js must not
  // replace it with the newer ones (data-hold), they save again or reload.
  return live(
    'tags',
    html`<h2>Tags</h2>${tagList(vm.tags)}
<form method="post" action="${base}/tags" data-tags-form>${csrfField(session)}<input type="hidden" name="etag" value="${etag}">
${conflict ? errorBox(conflict.message) : ''}
<label for="tags">One <code>key=value</code> per line (replaces all tags)</label>
<textarea id="tags" name="tags" rows="4">${text}</textarea>
<p class="muted" data-tags-note role="status"></p>
<p><button type="submit">Save tags</button></p>
</form>`,
    conflict ? html`data-hold` : '',
  );
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
  return html`<h2>Snapshots</h2>
${vm.snapshots.length ? html`<div class="table-wrap"><table><thead><tr><th>Name</th><th>VM state</th><th class="opt">Type</th><th>Taken</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>` : html`<p class="muted">No snapshots.</p>`}
${write ? html`<form method="post" action="${base}/snapshots" class="filters">${csrfField(session)}<label>New snapshot<input name="name" required pattern="[a-z0-9-]{1,63}" placeholder="before-upgrade"></label><button type="submit">Take snapshot</button></form>` : ''}`;
}

function jobsSection(jobs: JobView[]): SafeHtml {
  return html`<h2>Recent jobs</h2>
${
  jobs.length
    ? html`<div class="table-wrap"><table><thead><tr><th>Kind</th><th>State</th><th>Progress</th><th>Created</th></tr></thead><tbody>
${jobs.map((j) => html`<tr data-job-row="${j.id}"><td><a href="${UI_PATH}/jobs/${j.id}">${j.kind}</a></td><td>${stateBadge(j.state)}</td><td>${Math.round(j.progress)}%</td><td>${age(j.created_at)} ago</td></tr>`)}
</tbody></table></div>`
    : html`<p class="muted">No jobs kept for this VM.</p>`
}`;
}

function details(vm: VmItem): SafeHtml {
  return html`<h2>Details</h2><dl>
<dt>Region</dt><dd>${vm.region_name}</dd>
<dt>Host</dt><dd>${vm.host}</dd>
<dt>Address</dt><dd data-vm-ip>${vm.ip ?? '—'}</dd>
<dt>All addresses</dt><dd>${vm.addresses.length ? vm.addresses.map((a) => html`${a.ip} <span class="muted">(${a.source})</span> `) : '—'}</dd>
<dt>Instance type</dt><dd data-vm-type>${vm.instance_type ?? '—'}</dd>
<dt>CPUs / memory</dt><dd data-vm-size>${vm.vcpus ?? '—'} vCPU · ${vm.memory_mb ?? '—'} MiB</dd>
<dt>Image</dt><dd data-vm-image>${vm.image ?? '—'}</dd>
<dt>Owner</dt><dd data-vm-owner>${vm.tags.owner ?? '—'}</dd>
<dt>Guest</dt><dd>${vm.guest.ready ? 'ready' : `cloud-init ${vm.guest.cloud_init}, agent ${vm.guest.agent}`}</dd>
<dt>Observed</dt><dd>${vm.state === 'pending' ? 'not yet: its create has not run' : vm.observed_at ? `${age(vm.observed_at)} ago` : '—'}</dd>
</dl>`;
}

/** A VM that cannot be read any more (deleted): why, and its jobs, which are still kept. */
export interface GoneView {
  gone: string;
  jobs: JobView[];
}

/**
 * The page's live sections, by name, in page order. app.js gets them from …/state and replaces those whose
 * key changed.
 */
export function liveSections(
  session: UiSession,
  region: string,
  name: string,
  view: VmView | GoneView,
  conflict: TagsConflict | null = null,
): Record<string, SafeHtml> {
  const base = vmPath(region, name);
  const jobs = live('jobs', jobsSection(view.jobs));
  if ('gone' in view) {
    return {
      head: live('head', head(null, name)),
      details: live('details', html`<h2>Details</h2>${errorBox(view.gone)}<p><a href="${UI_PATH}/vms">All VMs</a></p>`),
      actions: live('actions', ''),
      tags: live('tags', ''),
      snapshots: live('snapshots', ''),
      jobs,
    };
  }
  return {
    head: live('head', head(view.vm, name)),
    details: live('details', details(view.vm)),
    actions: live('actions', canWrite(session) ? actions(session, view.vm, base) : ''),
    tags: tagsSection(session, view, base, conflict),
    snapshots: live('snapshots', snapshotsSection(session, view.vm, base)),
    jobs,
  };
}

/** The VM (with its ETag) and its recent jobs, read as the session's token; the VM's error when it cannot be read. */
export async function loadVm(
  c: Context<UiEnv>,
  ui: UiDeps,
  region: string,
  name: string,
): Promise<{ view: VmView; error: null } | { view: null; jobs: JobView[]; error: { status: number; message: string } }> {
  const [vm, jobs] = await Promise.all([
    callApi<VmItem>(c, ui, 'GET', `/v1/vms/${seg(region)}/${seg(name)}`),
    callApi<JobPage>(c, ui, 'GET', `/v1/jobs?${new URLSearchParams({ region, vm_name: name, limit: '10' })}`),
  ]);
  const recent = jobs.ok ? jobs.body.jobs : [];
  if (!vm.ok) return { view: null, jobs: recent, error: { status: vm.status, message: vm.error.message } };
  return { view: { vm: vm.body, etag: vm.etag ?? '', jobs: recent }, error: null };
}

export function vmPageHtml(session: UiSession, region: string, name: string, view: VmView, job: JobView | null, conflict: TagsConflict | null = null): string {
  const base = vmPath(region, name);
  const s = liveSections(session, region, name, view, conflict);
  return page(
    name,
    session,
    html`<div data-poll="${base}/state">
${s.head}
${job ? jobPanel(job) : ''}
${s.details}
${s.actions}
${s.tags}
<section><h2>Console log</h2>${
      canWrite(session)
        ? html`<p><a href="${base}/console" data-action="console">Read the console log</a> <span class="muted">(read from the host now; it may show generated passwords)</span></p>`
        : html`<p class="muted">Reading the console needs a token with the write scope.</p>`
    }</section>
${s.snapshots}
${s.jobs}
</div>`,
  ).value;
}

export default defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/vms/:region/:name`,
  auth: 'read',
  handler: async (c, ui) => {
    const { region, name } = params(c);
    const jobId = c.req.query('job');
    const [loaded, job] = await Promise.all([loadVm(c, ui, region, name), jobId ? callApi<JobView>(c, ui, 'GET', `/v1/jobs/${seg(jobId)}`) : null]);
    if (loaded.error) {
      // A VM just deleted: its delete job still shows how it went.
      const body = html`<h1>${name}</h1>${errorBox(loaded.error.message)}${job?.ok ? jobPanel(job.body) : ''}<p><a href="${UI_PATH}/vms">All VMs</a></p>`;
      return c.html(page(name, c.get('session'), body).value, loaded.error.status as 404);
    }
    return c.html(vmPageHtml(c.get('session'), region, name, loaded.view, job?.ok ? job.body : null));
  },
});
