/**
 * `GET /ui/jobs/{id}/events`: the API's job event stream (GET /v1/jobs/{id}/events, owner scoping and
 * all) relayed as it comes to the page's EventSource, which cannot send an Authorization header: the
 * session cookie authenticates it instead. The relay ends when the browser goes away.
 */
import { defineUiRoute, PAGE_HEADERS, params, seg, UI_PATH } from '../context.ts';

export default defineUiRoute({
  method: 'get',
  path: `${UI_PATH}/jobs/:id/events`,
  auth: 'read',
  handler: async (c, ui) => {
    const res = await ui.api.fetch(c.get('session').caller, c.get('requestId'), 'GET', `/v1/jobs/${seg(params(c).id)}/events`, { signal: c.req.raw.signal });
    // The stream's own headers (its type, its request id) with the page's (src/ui/context.ts PAGE_HEADERS):
    // a relay answers like every /ui answer.
    const headers = new Headers(res.headers);
    for (const [k, v] of Object.entries(PAGE_HEADERS)) headers.set(k, v);
    return new Response(res.body, { status: res.status, headers });
  },
});
