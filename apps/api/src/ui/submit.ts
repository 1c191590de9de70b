/** What an action answers: on to the VM's page following the job it queued, or the API's refusal as a page. */
import type { JobView } from '@provisioner/contracts/api';
import type { Context } from 'hono';
import type { ApiResult } from './api.ts';
import { UI_PATH, type UiEnv } from './context.ts';
import { html } from './html.ts';
import { errorBox, page } from './layout.ts';

export function vmPath(region: string, name: string): string {
  return `${UI_PATH}/vms/${encodeURIComponent(region)}/${encodeURIComponent(name)}`;
}

/** 303 to `next` with `?job=` the queued job, or the API's error (its status, its message) with a way back. */
export function afterSubmit(c: Context<UiEnv>, r: ApiResult<JobView>, next: string, back: string): Response {
  if (r.ok) return c.redirect(`${next}?job=${encodeURIComponent(r.body.id)}`, 303);
  const body = html`<h1>Not done</h1>${errorBox(r.error.message)}<p><a href="${back}">Back</a></p>`;
  return c.html(page('Not done', c.get('session'), body).value, r.status as 400);
}
