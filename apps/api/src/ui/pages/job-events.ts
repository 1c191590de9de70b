/**
 * `GET /ui/jobs/{id}/events`: the API's job event stream (GET /v1/jobs/{id}/events, owner scoping and
 * all) relayed as it comes to the page's EventSource, which cannot send an Authorization header: the
 * session cookie authenticates it instead. The relay ends when the browser goes away.
 */
import { defineUiRoute, params, seg, UI_PATH } from '../context.ts';

export default defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/jobs/:id/events`,
  auth: 'read',
  handler: async (c, ui) => {
    const res = await ui.api.fetch(c.get('session').caller, c.get('requestId'), 'GET', `/v1/jobs/${seg(params(c).id)}/events`, undefined, c.req.raw.signal);
    const headers = new Headers(res.headers);
    headers.set('Cache-Control', 'no-store');
    return new Response(res.body, { status: res.status, headers });
  },
});
