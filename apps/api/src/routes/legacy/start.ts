/** `POST /v1/start` (legacy): starts a VM and waits. */
import { defineRoute } from '../../route.ts';
import { LEGACY_OP, LegacySuccess, LegacyTarget, legacyOp } from './target.ts';

export default defineRoute({
  ...LEGACY_OP,
  method: 'post',
  path: '/v1/start',
  summary: 'Start a VM and wait (legacy)',
  request: { body: LegacyTarget },
  responses: { 200: { description: 'Started', schema: LegacySuccess } },
  handler: (c, s, { body: b }) => legacyOp(s, c, b, { kind: 'start' }),
});
