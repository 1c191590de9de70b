/** `GET /v1/get-images` (legacy): the image names. Open: the chat bot calls it without a token. */
import { z } from 'zod';
import { defineRoute } from '../../route.ts';

const LegacyImages = z.object({ images: z.array(z.string()) });

export default defineRoute({
  method: 'get',
  path: '/v1/get-images',
  tag: 'legacy',
  summary: 'Image names (legacy, open)',
  auth: 'open',
  needsRedis: false,
  ignoresQuery: true,
  responses: { 200: { description: 'Image names', schema: LegacyImages } },
  handler: (c, s) => c.json({ images: Object.keys(s.config.images) }),
});
