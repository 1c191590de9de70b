/** `GET /v1/jobs/{id}/events`: follows a job as Server-Sent Events until it ends. */
import { JobPath } from '@provisioner/contracts/api';
import { streamSSE } from 'hono/streaming';
import { callerOwner } from '../../caller.ts';
import { type ErrorCode, isRedisDown } from '../../errors.ts';
import { defineRoute } from '../../route.ts';
import { findOr404 } from '../../services/find-job.ts';

/** Comment lines keep idle proxies from closing a stream of a job that waits a long time. */
const HEARTBEAT_MS = 15_000;

export default defineRoute({
  method: 'get',
  path: '/v1/jobs/{id}/events',
  tag: 'jobs',
  summary: 'Follow a job (Server-Sent Events)',
  description:
    'One event per change of the job, each with an `id:` counting from 0 and `data:` the whole job view as JSON, until the job ends (the stream closes after the terminal state). Event names: `snapshot` (first, the job as it is when the stream opens), `state` (its state, attempts or error changed: e.g. `queued` → `running`, or the end), `step` (a step started or ended, or the running step’s `detail` changed), `progress` (only the percentage moved, e.g. during an image download), and `error` (`data: {code, message, request_id}`: the stream was interrupted; read the job again). `: keep-alive` comments come every 15 s in between.',
  auth: 'read',
  needsRedis: true,
  request: { params: JobPath },
  responses: { 200: { description: 'An event stream', contentType: 'text/event-stream' } },
  errors: ['NOT_FOUND'],
  handler: async (c, s, { params }) => {
    const { job, queue } = await findOr404(s, params.id, callerOwner(c));
    const log = c.get('logger');
    const requestId = c.get('requestId');
    return streamSSE(c, async (stream) => {
      const ac = new AbortController();
      stream.onAbort(() => ac.abort());
      const heartbeat = setInterval(() => void stream.write(': keep-alive\n\n'), HEARTBEAT_MS);
      let seq = 0;
      try {
        await s.watcher.watch(queue, String(job.id), (event, view) => stream.writeSSE({ event, id: String(seq++), data: JSON.stringify(view) }), ac.signal);
      } catch (e) {
        // The status line is long gone: say it in the stream, without internals.
        const code: ErrorCode = isRedisDown(e) ? 'UNAVAILABLE' : 'INTERNAL';
        if (code === 'INTERNAL') log.error({ err: (e as Error).message, request_id: requestId }, 'job event stream failed');
        await stream.writeSSE({
          event: 'error',
          data: JSON.stringify({ code, message: 'the event stream was interrupted; read the job again', request_id: requestId }),
        });
      } finally {
        clearInterval(heartbeat);
      }
    });
  },
});
