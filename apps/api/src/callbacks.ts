/**
 * Per-job webhooks: a mutating request may name a `webhook_url`; its outcome is POSTed there, signed
 * with the submitting token's `webhook_secret`. The job keeps the URL and the token's name only.
 */
import { type Config, EgressRules } from '@provisioner/contracts';
import type { Context } from 'hono';
import { type Requester, requester } from './caller.ts';
import type { AppEnv, Services } from './context.ts';
import { ApiError } from './errors.ts';

const rulesByConfig = new WeakMap<Config, EgressRules>();

/**
 * 422 when `url`'s host is an IP literal no delivery may reach (not global unicast, nor in
 * `webhooks.allow_networks`): refused now rather than as a failed delivery later. A host name passes
 * here; the delivery worker checks every address it resolves to when it connects.
 */
export function refuseUnreachable(s: Services, url: string, field: string): void {
  let rules = rulesByConfig.get(s.config);
  if (!rules) {
    rules = new EgressRules(s.config.webhooks);
    rulesByConfig.set(s.config, rules);
  }
  const why = rules.literalRefusal(url)?.replace(/^refused: /, '');
  if (!why) return;
  const message = `${why}: webhooks are sent to global unicast addresses only (and to the networks in webhooks.allow_networks)`;
  throw new ApiError('VALIDATION', `${field} ${message}`, { details: [{ path: field, message }] });
}

/**
 * The requester, with the callback URL (and the events it asked for) when one is given; 422 when the token
 * has nothing to sign with, when events are asked for without a URL, or when the URL is an address no
 * delivery may reach.
 */
export function withCallback(
  s: Services,
  c: Context<AppEnv>,
  b: { webhook_url?: string | null | undefined; webhook_events?: readonly string[] | undefined },
): Requester {
  const by = requester(c);
  const url = b.webhook_url;
  if (b.webhook_events?.length && !url) {
    throw new ApiError('VALIDATION', 'webhook_events needs a webhook_url to send them to', {
      details: [{ path: 'webhook_events', message: 'give webhook_url too' }],
    });
  }
  if (!url) return by;
  refuseUnreachable(s, url, 'webhook_url');
  const token = s.config.tokens.find((t) => t.name === by.submitted_by);
  if (!token?.webhook_secret) {
    throw new ApiError('VALIDATION', `webhook_url needs a webhook_secret configured for token '${by.submitted_by}'`, {
      details: [{ path: 'webhook_url', message: 'the token has no webhook_secret to sign deliveries with' }],
    });
  }
  const events = [...new Set(b.webhook_events ?? [])].filter((e) => e === 'job.progress' || e === 'vm.ready');
  return { ...by, webhook_url: url, ...(events.length ? { webhook_events: events } : {}) };
}
