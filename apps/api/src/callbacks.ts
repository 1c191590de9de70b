/**
 * Per-job webhooks: a mutating request may name a `webhook_url`; its outcome is POSTed there, signed
 * with the submitting token's `webhook_secret`. The job keeps the URL and the token's name only.
 */
import type { Context } from 'hono';
import { type Requester, requester } from './caller.ts';
import type { AppEnv, Services } from './context.ts';
import { ApiError } from './errors.ts';

/** The requester, with the callback URL when one is given; 422 when the token has nothing to sign with. */
export function withCallback(s: Services, c: Context<AppEnv>, url: string | null | undefined): Requester {
  const by = requester(c);
  if (!url) return by;
  const token = s.config.tokens.find((t) => t.name === by.submitted_by);
  if (!token?.webhook_secret) {
    throw new ApiError('VALIDATION', `webhook_url needs a webhook_secret configured for token '${by.submitted_by}'`, {
      details: [{ path: 'webhook_url', message: 'the token has no webhook_secret to sign deliveries with' }],
    });
  }
  return { ...by, webhook_url: url };
}
