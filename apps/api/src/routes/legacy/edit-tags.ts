/** `POST /v1/edit-tags` (legacy): replaces a VM's tags and waits. */
import { callerOwner, ownedTags } from '../../caller.ts';
import { defineRoute } from '../../route.ts';
import { LEGACY_OP, LegacyEditTags, LegacySuccess, legacyOp } from './target.ts';

export default defineRoute({
  ...LEGACY_OP,
  method: 'post',
  path: '/v1/edit-tags',
  summary: 'Replace a VM’s tags and wait (legacy)',
  request: { body: LegacyEditTags },
  responses: { 200: { description: 'Tags replaced', schema: LegacySuccess } },
  handler: (c, s, { body: b }) => legacyOp(s, c, b, { kind: 'edit-tags', tags: ownedTags(callerOwner(c), b.tags) }),
});
