/**
 * The API's `GET /metrics`: refused without a `read` token and to owner-bound tokens; parses as
 * Prometheus text (independent parser); requests are counted by route pattern (never the raw path),
 * submissions by kind, and queue depth and the oldest waiting job are read from Redis.
 */
import { hostQueueName } from '@provisioner/contracts';
import { describe, expect, it } from 'vitest';
import { type Families, parseMetrics, sample, typeOf } from '../../../../test/support/prom.ts';
import { routeLabel } from '../../src/metrics.ts';
import { TOKENS, useHarness } from './harness.ts';

const TENANT = 'tenant-0123456789abcdef0123456789';
const h = useHarness({
  extra: {
    tokens: [
      { name: 'admin', token: TOKENS.admin, scopes: ['admin'] },
      { name: 'reader', token: TOKENS.read, scopes: ['read'] },
      { name: 'tenant', token: TENANT, scopes: ['read', 'write'], owner: 'alice' },
    ],
  },
});

async function scrape(): Promise<Families> {
  const r = await h.fetch('/metrics', { token: TOKENS.read });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await r.text());
}

describe('GET /metrics', () => {
  it('needs a read token and refuses owner-bound tokens', async () => {
    expect((await h.fetch('/metrics', { token: null })).status).toBe(401);
    expect((await h.fetch('/metrics', { token: 'not-a-token-at-all-really' })).status).toBe(401);
    expect((await h.fetch('/metrics', { token: TENANT })).status).toBe(403);
    expect((await h.fetch('/metrics', { token: TOKENS.read })).status).toBe(200);
  });

  it('counts requests by route pattern, method and status, with latency histograms', async () => {
    const before = await scrape();
    expect(typeOf(before, 'provisioner_http_requests_total')).toBe('COUNTER');
    expect(typeOf(before, 'provisioner_http_request_duration_seconds')).toBe('HISTOGRAM');
    const vm404 = { method: 'GET', route: '/v1/vms/:region/:name', status: '404' };
    const unmatched = { method: 'GET', route: 'unmatched', status: '404' };
    const denied = { method: 'GET', route: '/v1/regions', status: '401' };
    expect((await h.fetch('/v1/vms/r1/no-such-vm-1')).status).toBe(404);
    expect((await h.fetch('/v1/vms/r1/no-such-vm-2')).status).toBe(404);
    expect((await h.fetch('/nothing/here/at-all')).status).toBe(404);
    expect((await h.fetch('/v1/regions', { token: null })).status).toBe(401);
    const after = await scrape();
    expect(sample(after, 'provisioner_http_requests_total', vm404) - sample(before, 'provisioner_http_requests_total', vm404)).toBe(2);
    expect(sample(after, 'provisioner_http_requests_total', unmatched) - sample(before, 'provisioner_http_requests_total', unmatched)).toBe(1);
    expect(sample(after, 'provisioner_http_requests_total', denied) - sample(before, 'provisioner_http_requests_total', denied)).toBe(1);
    const lat = { method: 'GET', route: '/v1/vms/:region/:name' };
    expect(sample(after, 'provisioner_http_request_duration_seconds', lat) - sample(before, 'provisioner_http_request_duration_seconds', lat)).toBe(2);
    // Raw paths never become label values.
    const text = await (await h.fetch('/metrics', { token: TOKENS.read })).text();
    expect(text).not.toContain('no-such-vm');
    expect(text).not.toContain('/nothing/here');
  });

  it('counts submitted jobs by kind and reads queue depth and the oldest waiting job from Redis', async () => {
    await h.writeInventory('r1', 'h1', [{ name: 'metrics-vm' }]);
    const queue = hostQueueName('r1', 'h1');
    const before = await scrape();
    expect(typeOf(before, 'provisioner_queue_jobs')).toBe('GAUGE');
    expect(sample(before, 'provisioner_queue_jobs', { queue, state: 'wait' })).toBe(0);
    expect(sample(before, 'provisioner_queue_oldest_waiting_seconds', { queue })).toBe(0);
    expect((await h.fetch('/v1/vms/r1/metrics-vm/start', { method: 'POST' })).status).toBe(202);
    expect((await h.fetch('/v1/vms/r1/metrics-vm/stop', { method: 'POST', json: {} })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 20)); // let the oldest job age measurably
    const after = await scrape();
    for (const kind of ['start', 'stop']) {
      expect(sample(after, 'provisioner_jobs_submitted_total', { kind }) - sample(before, 'provisioner_jobs_submitted_total', { kind })).toBe(1);
    }
    expect(sample(after, 'provisioner_queue_jobs', { queue, state: 'wait' })).toBe(2);
    expect(sample(after, 'provisioner_queue_jobs', { queue: 'webhooks', state: 'wait' })).toBe(0);
    expect(sample(after, 'provisioner_queue_oldest_waiting_seconds', { queue })).toBeGreaterThan(0);
  });

  it('keeps the token out of its log lines', async () => {
    await h.fetch('/metrics', { token: TOKENS.read });
    expect(h.logs.join('')).not.toContain(TOKENS.read);
  });
});

describe('routeLabel', () => {
  it('takes the endpoint pattern, else the most specific middleware pattern, else unmatched', () => {
    const mw = { method: 'ALL', path: '*' };
    expect(routeLabel([mw, { method: 'GET', path: '/v1/jobs/:id' }, mw])).toBe('/v1/jobs/:id');
    expect(routeLabel([mw, { method: 'ALL', path: '/admin/*' }])).toBe('/admin/*');
    expect(routeLabel([mw, { method: 'ALL', path: '/*' }])).toBe('unmatched');
  });
});
