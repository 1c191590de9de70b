/**
 * `DELETE /v1/tokens/{name}/sessions`: signs a token out everywhere, ending every browser session (VM page and
 * dashboard) it signed in to: for a lost laptop, or a screen left signed in. A token may do it for itself; an
 * admin token for any token. The token itself stays valid (rotate it in the configuration to revoke it).
 */
import { tokenDigestByName } from '@provisioner/contracts';
import { TokenPath } from '@provisioner/contracts/api';
import { z } from 'zod';
import { Sessions } from '../../admin/session.ts';
import { ApiError, shown } from '../../errors.ts';
import { defineRoute } from '../../route.ts';

export const SessionsEnded = z.object({
  token: z.string().meta({ description: 'The token’s name', example: 'alice-bot' }),
  sessions_ended: z.number().int().meta({ description: 'How many live sessions (VM page and dashboard) were ended', example: 2 }),
});

export default defineRoute({
  method: 'delete',
  path: '/v1/tokens/{name}/sessions',
  tag: 'sessions',
  summary: 'Sign a token out of every browser session',
  description:
    'Ends every session of the VM page (`/ui`) and of the dashboard (`/admin`) that the token signed in to, in every browser. A token may sign itself out (any token with the `write` scope; a read-only one uses the page’s “Sign out everywhere”); an `admin` token may sign out any token. The token stays valid: remove or rotate it in the configuration to revoke it.',
  auth: 'write',
  needsRedis: true,
  request: { params: TokenPath },
  responses: { 200: { description: 'Signed out', schema: SessionsEnded } },
  errors: ['NOT_FOUND'],
  handler: async (c, s, { params: { name } }) => {
    const caller = c.get('caller');
    const admin = caller?.scopes.includes('admin') ?? false;
    // Another token's sessions are an admin's business; whether that token exists is not said to others.
    if (!admin && caller?.name !== name) throw new ApiError('FORBIDDEN', `token '${caller?.name ?? 'anonymous'}' may sign out only its own sessions`);
    const digest = tokenDigestByName(s.config, name);
    if (!digest) throw new ApiError('NOT_FOUND', `token ${shown(name)} not found`);
    const ended = await new Sessions(s.redis, s.config).destroyAll(digest);
    c.get('logger').info({ request_id: c.get('requestId'), token: caller?.name ?? null, target: name, sessions: ended }, 'signed a token out everywhere');
    return c.json({ token: name, sessions_ended: ended }, 200);
  },
});
