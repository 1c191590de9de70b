/** `POST /v1/stop` (legacy): the old /v1/stop was `virsh destroy`, and keeps that meaning. */
import { defineRoute } from '../../route.ts';
import { LEGACY_OP, LegacySuccess, LegacyTarget, legacyOp } from './target.ts';

export default defineRoute({
  ...LEGACY_OP,
  method: 'post',
  path: '/v1/stop',
  summary: 'Power a VM off and wait (legacy: `virsh destroy`)',
  request: { body: LegacyTarget },
  responses: { 200: { description: 'Stopped', schema: LegacySuccess } },
  handler: (c, s, { body: b }) => legacyOp(s, c, b, { kind: 'stop', force: true, timeout_ms: s.config.worker.stop_timeout_ms }),
});
