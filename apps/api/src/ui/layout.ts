/** The VM page's shell (head, header, assets) and the fragments several pages show. */
import { randomUUID } from 'node:crypto';
import type { JobView } from '@provisioner/contracts/api';
import { canWrite, UI_PATH, type UiSession } from './context.ts';
import { html, type SafeHtml } from './html.ts';

export const ASSETS = `${UI_PATH}/assets`;

/** A whole page: `session` null for the sign-in form. */
export function page(title: string, session: UiSession | null, body: SafeHtml): SafeHtml {
  const who = session
    ? html`<span class="who">${session.caller.name}${canWrite(session) ? '' : ' (read-only)'}${session.caller.owner !== null ? html` · owner ${session.caller.owner}` : ''}</span>
<form method="post" action="${UI_PATH}/logout"><input type="hidden" name="csrf" value="${session.csrf}"><button type="submit">Sign out</button></form>
<form method="post" action="${UI_PATH}/logout/all"><input type="hidden" name="csrf" value="${session.csrf}"><button type="submit" title="End every session of this token, in every browser">Sign out everywhere</button></form>`
    : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · Provisioner</title>
<link rel="stylesheet" href="${ASSETS}/app.css">
<script src="${ASSETS}/app.js" defer></script>
</head>
<body>
<header><a href="${UI_PATH}/vms">Provisioner VMs</a>${session && canWrite(session) ? html`<a href="${UI_PATH}/vms/new">New VM</a>` : ''}${who}</header>
<main>
${body}
</main>
</body>
</html>`;
}

/**
 * The hidden fields every form that POSTs has: the session's CSRF token, and an Idempotency-Key made when the
 * form was drawn, so a double click or a resent form queues its job once (the API's idempotency, per caller).
 */
export function csrfField(session: UiSession): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${session.csrf}"><input type="hidden" name="idem" value="ui-${randomUUID()}">`;
}

export function stateBadge(state: string, attrs: SafeHtml | '' = ''): SafeHtml {
  return html`<span class="state state-${state.replace(/[^a-z]+/g, '-')}" ${attrs}>${state}</span>`;
}

export function errorBox(message: string | null): SafeHtml | '' {
  return message ? html`<p class="error" role="alert">${message}</p>` : '';
}

/** "3 min", "2 h", "5 d" since `iso` (null: —). */
export function age(iso: string | null | undefined, now = Date.now()): string {
  const t = iso ? Date.parse(iso) : Number.NaN;
  if (Number.isNaN(t)) return '—';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** A job with its progress bar and steps; app.js follows it live while it has not ended. */
export function jobPanel(job: JobView): SafeHtml {
  return html`<section class="job" data-job="${job.id}" data-state="${job.state}" data-events="${UI_PATH}/jobs/${job.id}/events">
<h2><a href="${UI_PATH}/jobs/${job.id}">${job.kind}</a> ${stateBadge(job.state, html`data-job-state`)} <span data-job-progress>${Math.round(job.progress)}%</span></h2>
<progress max="100" value="${job.progress}" aria-label="progress"></progress>
<ul class="steps">${job.steps.map((st) => html`<li class="s-${st.state}">${st.name}${st.detail ? ` — ${st.detail}` : ''}</li>`)}</ul>
<p class="error-text" data-job-error>${job.error ? `${job.error.code}: ${job.error.message}` : ''}</p>
<p class="muted">${job.target.region} / ${job.target.vm_name ?? job.target.host} · ${job.id} · created ${age(job.created_at)} ago</p>
</section>`;
}
