/**
 * The delivery worker against the machine's Redis (a prefix of its own) and a real receiver on
 * loopback; signatures checked with the `standardwebhooks` package, not the project's own code.
 */
import { randomBytes } from 'node:crypto';
import { type Config, ConfigSchema, type DeliveryAttempt, encodeJobError, type JobView, newWebhookSecret } from '@provisioner/contracts';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Received, type Receiver, startReceiver } from '../../../../test/support/receiver.ts';
import { deletePrefix } from '../../../../test/support/stack.ts';
import { EgressGuard } from '../../src/ssrf.ts';
import { startWebhookWorker, type WebhookRuntime, webhookBackoff } from '../../src/webhooks.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const FP = `SHA256:${'A'.repeat(43)}`;
const TOKEN_SECRET = newWebhookSecret();
/** Tokens in the middle of a webhook_secret rotation (its overlap still on) and after one (over). */
const ROTATING = { now: newWebhookSecret(), previous: newWebhookSecret() };
const ROTATED = { now: newWebhookSecret(), previous: newWebhookSecret() };

function config(prefix: string, webhooks: Record<string, unknown>): Config {
  return ConfigSchema.parse({
    queue_prefix: prefix,
    log_level: 'silent',
    user_data_key: randomBytes(32).toString('base64'),
    tokens: [
      { name: 'bot', token: randomBytes(16).toString('hex'), scopes: ['write'], webhook_secret: TOKEN_SECRET },
      {
        name: 'rotating',
        token: randomBytes(16).toString('hex'),
        scopes: ['write'],
        webhook_secret: ROTATING.now,
        webhook_secret_previous: ROTATING.previous,
        webhook_secret_previous_until: new Date(Date.now() + 3_600_000).toISOString(),
      },
      {
        name: 'rotated',
        token: randomBytes(16).toString('hex'),
        scopes: ['write'],
        webhook_secret: ROTATED.now,
        webhook_secret_previous: ROTATED.previous,
        webhook_secret_previous_until: new Date(Date.now() - 1000).toISOString(),
      },
    ],
    regions: [
      {
        region_name: 'r1',
        hosts: [{ name: 'h1', address: '127.0.0.1', private_key_path: '/nonexistent', host_key_fingerprint: FP }],
        available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 64, storage_mb: 64 }],
      },
    ],
    webhooks,
  });
}

/** A finished job as GET /v1/jobs/{id} shows it. */
function jobView(state: JobView['state'] = 'succeeded'): JobView {
  const id = `job_${randomBytes(16).toString('hex')}`;
  const now = new Date().toISOString();
  return {
    id,
    kind: 'start',
    target: { region: 'r1', vm_name: 'hook-vm', host: 'h1' },
    state,
    progress: 100,
    step: null,
    steps: [{ name: 'start', state: 'succeeded', started_at: now, finished_at: now }],
    attempts: 1,
    created_at: now,
    started_at: now,
    finished_at: now,
    error: null,
    result: { ok: true },
    request_id: null,
    links: { self: `/v1/jobs/${id}`, events: `/v1/jobs/${id}/events`, cancel: `/v1/jobs/${id}/cancel` },
  };
}

interface Env {
  prefix: string;
  redis: Redis;
  rt: WebhookRuntime;
  receiver: Receiver;
}

function useEnv(webhooks: Record<string, unknown>, receiverHost?: string): Env {
  const env = {} as Env;
  beforeAll(async () => {
    env.prefix = `{wh-${randomBytes(6).toString('hex')}}`;
    env.redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    env.rt = startWebhookWorker(config(env.prefix, webhooks), env.redis, pino({ level: 'silent' }));
    env.receiver = await startReceiver(receiverHost);
  });
  afterAll(async () => {
    await env.rt?.close();
    await env.receiver?.close();
    await deletePrefix(env.redis, env.prefix);
    await env.redis.quit();
  });
  return env;
}

/** Waits until the delivery job (BullMQ) has finished for good. */
async function settled(env: Env, id: string, ms = 20_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const state = await env.rt.webhooks.queue.getJobState(id);
    if (state === 'completed' || state === 'failed') return state;
    if (Date.now() > end) throw new Error(`delivery ${id} still ${state} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function attempts(env: Env, jobId: string): Promise<DeliveryAttempt[]> {
  return env.rt.webhooks.attempts(jobId);
}

const headersOf = (h: Record<string, unknown>) => ({
  'webhook-id': String(h['webhook-id']),
  'webhook-timestamp': String(h['webhook-timestamp']),
  'webhook-signature': String(h['webhook-signature']),
});

describe('webhook deliveries (loopback receiver explicitly allowed)', () => {
  const env = useEnv({ timeout_ms: 400, attempts: 4, backoff_ms: 300, max_backoff_ms: 10_000, allow_networks: ['127.0.0.1/32'] });

  it('retries 500, 500 then delivers on 200: one webhook-id, growing delays, valid signatures, once', async () => {
    const { endpoint, secret } = await env.rt.webhooks.createEndpoint({ url: `${env.receiver.url}/hook`, events: ['job.succeeded'], created_by: 'test' });
    env.receiver.script([500, 500], 200);
    const view = jobView();
    const [id] = await env.rt.enqueueJobEvent('job.succeeded', view);
    expect(id).toMatch(/^msg_[a-f0-9]{32}$/);
    expect(await settled(env, String(id))).toBe('completed');

    const got = env.receiver.received.slice();
    expect(got).toHaveLength(3);
    const wh = new Webhook(secret);
    for (const r of got) {
      expect(r.headers['webhook-id']).toBe(id);
      const payload = wh.verify(r.body, headersOf(r.headers)) as { type: string; timestamp: string; data: JobView };
      expect(payload.type).toBe('job.succeeded');
      expect(payload.data).toEqual(view);
      expect(Number.isNaN(Date.parse(payload.timestamp))).toBe(false);
    }
    // Another secret does not verify: the signature really depends on it.
    expect(() => new Webhook(newWebhookSecret()).verify(got[0]?.body ?? '', headersOf(got[0]?.headers ?? {}))).toThrow();
    const [a, b, c] = got.map((r) => r.at) as [number, number, number];
    expect(b - a).toBeGreaterThanOrEqual(200);
    expect(c - b).toBeGreaterThan(b - a);

    const log = await attempts(env, view.id);
    expect(log.map((l) => [l.attempt, l.status_code, l.outcome])).toEqual([
      [1, 500, 'retrying'],
      [2, 500, 'retrying'],
      [3, 200, 'delivered'],
    ]);
    expect(log.every((l) => l.endpoint_id === endpoint.id && typeof l.duration_ms === 'number' && !Number.isNaN(Date.parse(l.at)))).toBe(true);

    // The same event queued again (e.g. by a second worker) is not sent twice.
    expect(await env.rt.enqueueJobEvent('job.succeeded', view)).toEqual([]);

    // Redelivery: the same webhook-id and body, still verifiable.
    expect(await env.rt.webhooks.redeliver(view.id, String(id))).toEqual({ outcome: 'queued' });
    const [again] = (await env.receiver.waitFor(4)).slice(3);
    expect(again?.headers['webhook-id']).toBe(id);
    expect(again?.body).toBe(got[0]?.body);
    expect(() => wh.verify(again?.body ?? '', headersOf(again?.headers ?? {}))).not.toThrow();
    await env.rt.webhooks.deleteEndpoint(endpoint.id);
  });

  it('410 Gone disables the endpoint: no further attempts, no further deliveries', async () => {
    const before = env.receiver.received.length;
    const { endpoint } = await env.rt.webhooks.createEndpoint({ url: `${env.receiver.url}/gone`, events: ['job.failed'], created_by: 'test' });
    env.receiver.script([410], 200);
    const view = jobView('failed');
    const [id] = await env.rt.enqueueJobEvent('job.failed', view);
    expect(await settled(env, String(id))).toBe('failed');
    const job = await env.rt.webhooks.queue.getJob(String(id));
    expect(job?.attemptsMade).toBe(1);
    expect(env.receiver.received.length - before).toBe(1);
    const [listed] = await env.rt.webhooks.listEndpoints();
    expect(listed?.id).toBe(endpoint.id);
    expect(listed?.disabled_at).not.toBeNull();
    expect((await attempts(env, view.id)).map((l) => [l.status_code, l.outcome])).toEqual([[410, 'failed']]);
    // Disabled: later events are not queued for it, and redelivery is refused.
    expect(await env.rt.enqueueJobEvent('job.failed', jobView('failed'))).toEqual([]);
    expect(await env.rt.webhooks.redeliver(view.id, String(id))).toEqual({ outcome: 'endpoint_gone' });
    expect(env.receiver.received.length - before).toBe(1);
    await env.rt.webhooks.deleteEndpoint(endpoint.id);
  });

  it("a receiver that hangs times out and is retried; the job's own webhook_url is signed with its token's secret", async () => {
    const before = env.receiver.received.length;
    env.receiver.script(['hang'], 200);
    const view = jobView();
    const [id] = await env.rt.enqueueJobEvent('job.succeeded', view, { url: `${env.receiver.url}/job-callback?k=1`, token: 'bot' });
    expect(await settled(env, String(id))).toBe('completed');
    const got = env.receiver.received.slice(before);
    expect(got).toHaveLength(2);
    expect(got[0]?.headers['webhook-id']).toBe(got[1]?.headers['webhook-id']);
    for (const r of got) expect(() => new Webhook(TOKEN_SECRET).verify(r.body, headersOf(r.headers))).not.toThrow();
    const log = await attempts(env, view.id);
    expect(log.map((l) => [l.status_code, l.outcome])).toEqual([
      [null, 'retrying'],
      [200, 'delivered'],
    ]);
    expect(log[0]?.error).toMatch(/timeout after 400 ms/);
    expect(log[0]?.duration_ms).toBeGreaterThanOrEqual(350);
    // The delivery log hides the query string (it may carry a receiver's token).
    expect(log[0]?.url).toBe(`${env.receiver.url}/job-callback?…`);
  });

  it("a host queue's progress and failures (canceled included) become job.progress, job.failed and job.canceled deliveries", async () => {
    const { endpoint, secret } = await env.rt.webhooks.createEndpoint({
      url: `${env.receiver.url}/events`,
      events: ['job.progress', 'job.failed', 'job.canceled'],
      created_by: 'test',
    });
    env.receiver.script([], 200);
    const from = env.receiver.received.length;
    const ofJob = (id: string) =>
      env.receiver.received
        .slice(from)
        .map((r) => JSON.parse(r.body) as { type: string; data: JobView })
        .filter((b) => b.data.id === id);
    const queue = new Queue('ops.r1.h1', { connection: env.redis, prefix: env.prefix });
    const connection = env.redis.duplicate({ maxRetriesPerRequest: null });
    const worker = new Worker(
      'ops.r1.h1',
      async (job) => {
        const now = new Date().toISOString();
        await job.updateProgress({ percent: 40, step: 'start', steps: [{ name: 'start', state: 'running', started_at: now, finished_at: null }] });
        // Ends only once its progress was delivered, so the progress event saw it running.
        for (let i = 0; i < 200 && !ofJob(String(job.id)).some((b) => b.type === 'job.progress'); i++) await new Promise((r) => setTimeout(r, 25));
        throw new UnrecoverableError(encodeJobError({ code: job.data.code, message: `ended with ${job.data.code}`, retryable: false }));
      },
      { connection, prefix: env.prefix },
    );
    worker.on('progress', (job) => void env.rt.onProgress(queue, job));
    worker.on('failed', (job) => void env.rt.onJobEnded(queue, job));
    try {
      const base = { kind: 'start', region: 'r1', host: 'h1', vm_name: 'hook-vm', seq: 1, submitted_by: 'bot' };
      const failed = `job_${randomBytes(16).toString('hex')}`;
      const canceled = `job_${randomBytes(16).toString('hex')}`;
      await queue.add('start', { ...base, code: 'COMMAND_FAILED' }, { jobId: failed });
      await queue.add('start', { ...base, code: 'CANCELED' }, { jobId: canceled });
      await env.receiver.waitFor(from + 4);
      expect(ofJob(failed).map((b) => [b.type, b.data.state])).toEqual([
        ['job.progress', 'running'],
        ['job.failed', 'failed'],
      ]);
      expect(ofJob(failed)[1]?.data.error).toEqual({ code: 'COMMAND_FAILED', message: 'ended with COMMAND_FAILED', retryable: false });
      expect(ofJob(canceled).map((b) => [b.type, b.data.state])).toEqual([
        ['job.progress', 'running'],
        ['job.canceled', 'canceled'],
      ]);
      for (const r of env.receiver.received.slice(from)) expect(() => new Webhook(secret).verify(r.body, headersOf(r.headers))).not.toThrow();
    } finally {
      await worker.close();
      await connection.quit();
      await queue.close();
      await env.rt.webhooks.deleteEndpoint(endpoint.id);
    }
  });

  it('does not follow redirects', async () => {
    const before = env.receiver.received.length;
    env.receiver.script([302], 200);
    const view = jobView();
    const [id] = await env.rt.enqueueJobEvent('job.succeeded', view, { url: `${env.receiver.url}/moved`, token: 'bot' });
    expect(await settled(env, String(id))).toBe('completed');
    expect(env.receiver.received.slice(before).map((r) => r.path)).toEqual(['/moved', '/moved']);
    const log = await attempts(env, view.id);
    expect(log[0]?.status_code).toBe(302);
    expect(log[0]?.error).toMatch(/redirects are not followed/);
  });
});

describe('delivery stats by endpoint', () => {
  const env = useEnv({ timeout_ms: 1000, attempts: 3, backoff_ms: 1500, max_backoff_ms: 10_000, allow_networks: ['127.0.0.1/32'] });

  it('counts attempts, success rate, last error, and what waits for a retry and when', async () => {
    const { endpoint } = await env.rt.webhooks.createEndpoint({ url: `${env.receiver.url}/stats`, events: ['job.failed'], created_by: 'test' });
    expect((await env.rt.webhooks.endpointStats()).get(endpoint.id)).toMatchObject({ attempts: 0, success_rate: null, queued: 0, next_retry_at: null });
    env.receiver.script([500], 200);
    const view = jobView('failed');
    const [id = ''] = await env.rt.enqueueJobEvent('job.failed', view);
    for (let i = 0; i < 200 && (await attempts(env, view.id)).length < 1; i++) await new Promise((r) => setTimeout(r, 25));
    // Between the failed attempt and its retry: one delivery waiting, due within the backoff.
    let st = (await env.rt.webhooks.endpointStats()).get(endpoint.id);
    for (let i = 0; i < 100 && !st?.retrying; i++) {
      await new Promise((r) => setTimeout(r, 10));
      st = (await env.rt.webhooks.endpointStats()).get(endpoint.id);
    }
    expect(st).toMatchObject({ attempts: 1, delivered: 0, success_rate: 0, last_error: 'HTTP 500', queued: 1, retrying: 1 });
    expect(Date.parse(st?.next_retry_at ?? '')).toBeGreaterThan(Date.now() - 1000);
    expect(await settled(env, id)).toBe('completed');
    expect((await env.rt.webhooks.endpointStats()).get(endpoint.id)).toMatchObject({
      attempts: 2,
      delivered: 1,
      success_rate: 0.5,
      last_error: 'HTTP 500',
      queued: 0,
      retrying: 0,
      next_retry_at: null,
    });
    await env.rt.webhooks.deleteEndpoint(endpoint.id);
    expect((await env.rt.webhooks.endpointStats()).get(endpoint.id)).toBeUndefined();
  });
});

describe('SSRF guard at connect time (nothing allowed)', () => {
  const env = useEnv({ timeout_ms: 1000, attempts: 3, backoff_ms: 50 }, '::');

  it('refuses loopback, private, link-local, metadata, reserved and oddly encoded addresses without connecting', async () => {
    const p = env.receiver.port;
    const cases: Array<[string, RegExp]> = [
      [`http://127.0.0.1:${p}/`, /127\.0\.0\.1 is a loopback address/],
      [`http://localhost:${p}/`, /localhost resolves to .* loopback/],
      [`http://0:${p}/`, /0\.0\.0\.0 is an unspecified/],
      [`http://017700000001:${p}/`, /127\.0\.0\.1 is a loopback/],
      [`http://2130706433:${p}/`, /127\.0\.0\.1 is a loopback/],
      [`http://0x7f000001:${p}/`, /127\.0\.0\.1 is a loopback/],
      [`http://127.1:${p}/`, /127\.0\.0\.1 is a loopback/],
      [`http://[::1]:${p}/`, /::1 is a loopback/],
      [`http://[::]:${p}/`, /:: is an unspecified/],
      [`http://[::ffff:127.0.0.1]:${p}/`, /127\.0\.0\.1 is a loopback/],
      [`http://[0:0:0:0:0:ffff:7f00:1]:${p}/`, /127\.0\.0\.1 is a loopback/],
      ['http://169.254.169.254/latest/meta-data/', /cloud metadata/],
      ['http://[::ffff:169.254.169.254]/', /cloud metadata/],
      ['http://169.254.10.1/', /link-local/],
      ['http://10.1.2.3/', /private/],
      ['http://172.16.0.1/', /private/],
      ['http://192.168.1.1/', /private/],
      ['http://100.64.0.1/', /CGNAT/],
      ['http://224.0.0.1/', /multicast/],
      ['http://240.0.0.1/', /reserved/],
      ['http://255.255.255.255/', /broadcast/],
      ['http://[fc00::1]/', /private/],
      ['http://[fe80::1]/', /link-local/],
      ['http://[ff02::1]/', /multicast/],
      ['http://[64:ff9b::7f00:1]/', /NAT64 address of 127\.0\.0\.1/],
      // SIIT (::ffff:0:0:0/96), IPv4-compatible, 6to4 and Teredo forms: not global unicast either.
      [`http://[::ffff:0:7f00:1]:${p}/`, /SIIT\) address of 127\.0\.0\.1/],
      ['http://[::ffff:0:a9fe:a9fe]/', /SIIT\) address of 169\.254\.169\.254/],
      [`http://[::127.0.0.1]:${p}/`, /::7f00:1 is a reserved address/],
      [`http://[2002:7f00:1::1]:${p}/`, /6to4 address of 127\.0\.0\.1/],
      ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', /Teredo/],
    ];
    const views = await Promise.all(
      cases.map(async ([url]) => {
        const view = jobView();
        const [id] = await env.rt.enqueueJobEvent('job.succeeded', view, { url, token: 'bot' });
        return { view, id: String(id) };
      }),
    );
    for (const [i, [url, reason]] of cases.entries()) {
      const { view, id } = views[i] as { view: JobView; id: string };
      expect(await settled(env, id), url).toBe('failed');
      const log = await attempts(env, view.id);
      expect(log, url).toHaveLength(1); // refusals are not retried
      expect(log[0]?.outcome, url).toBe('refused');
      expect(log[0]?.status_code, url).toBeNull();
      expect(log[0]?.error, url).toMatch(reason);
    }
    expect(env.receiver.connections()).toBe(0);
    expect(env.receiver.received).toHaveLength(0);
  });

  it('the receiver is reachable at all (so the refusals above are the guard, not a dead port)', async () => {
    const r = await fetch(`http://127.0.0.1:${env.receiver.port}/probe`, { method: 'POST', body: '{}' });
    expect(r.status).toBe(200);
    expect(env.receiver.connections()).toBe(1);
  });
});

describe('SSRF guard with loopback allowed (the local configuration): SIIT is not loopback', () => {
  const env = useEnv({ timeout_ms: 1000, attempts: 3, backoff_ms: 50, allow_networks: ['127.0.0.0/8', '::1/128'] }, '::');

  it('refuses the SIIT form of an allowed address without connecting, and delivers to its IPv4-mapped form', async () => {
    const p = env.receiver.port;
    const siit = jobView();
    const [siitId] = await env.rt.enqueueJobEvent('job.succeeded', siit, { url: `http://[::ffff:0:7f00:1]:${p}/siit`, token: 'bot' });
    expect(await settled(env, String(siitId))).toBe('failed');
    const log = await attempts(env, siit.id);
    expect(log.map((a) => [a.outcome, a.status_code])).toEqual([['refused', null]]);
    expect(log[0]?.error).toMatch(/^refused: ::ffff:0:7f00:1 is an IPv4-translated \(SIIT\) address of 127\.0\.0\.1/);
    expect(env.receiver.connections()).toBe(0);

    // The same listener, reached through the mapped form (which the kernel sends to 127.0.0.1 itself): so the
    // refusal above is the guard's, not an unreachable port.
    const mapped = jobView();
    const [mappedId] = await env.rt.enqueueJobEvent('job.succeeded', mapped, { url: `http://[::ffff:127.0.0.1]:${p}/mapped`, token: 'bot' });
    expect(await settled(env, String(mappedId))).toBe('completed');
    expect(env.receiver.received.map((r) => r.path)).toEqual(['/mapped']);
    expect(env.receiver.connections()).toBe(1);
  });
});

describe('egress guard and backoff (pure)', () => {
  it('honours allowed networks and hosts (the classification itself: contracts/test/egress.test.ts)', () => {
    const g = new EgressGuard({ allow_networks: ['10.20.0.0/16', 'fd00:1::/32'], allow_hosts: ['Hooks.Internal'] });
    expect(g.refusal('10.20.3.4')).toBeNull();
    expect(g.refusal('::ffff:10.20.3.4')).toBeNull();
    expect(g.refusal('10.21.0.1')).toMatch(/private/);
    expect(g.refusal('fd00:1::5')).toBeNull();
    expect(g.refusal('1.1.1.1')).toBeNull();
    expect(g.refusal('2606:4700::1111')).toBeNull();
    expect(g.hostAllowed('hooks.internal.')).toBe(true);
    expect(g.precheck(new URL('http://hooks.internal/x'))).toBeNull();
    expect(g.precheck(new URL('http://127.0.0.1/x'))).toMatch(/loopback/);
    expect(g.precheck(new URL('http://[::ffff:0:a9fe:a9fe]/'))).toMatch(/SIIT/);
  });

  it('the configuration refuses allow_networks entries that are not CIDRs', () => {
    for (const bad of ['1.2.3/8', '10.0.0.0/33', '::1/129', 'example.org/24']) {
      expect(() => config('{x}', { allow_networks: [bad] }), bad).toThrow(/CIDR/);
    }
    expect(config('{x}', { allow_networks: ['127.0.0.1/32', 'fd00::/8'] }).webhooks.allow_networks).toHaveLength(2);
  });

  it('backs off exponentially with bounded jitter, up to the cap', () => {
    expect(webhookBackoff(1, 1000, 60_000, () => 0.5)).toBe(1000);
    expect(webhookBackoff(2, 1000, 60_000, () => 0.5)).toBe(2000);
    expect(webhookBackoff(3, 1000, 60_000, () => 0)).toBe(3200);
    expect(webhookBackoff(3, 1000, 60_000, () => 1)).toBe(4800);
    expect(webhookBackoff(20, 1000, 60_000, () => 0.5)).toBe(60_000);
  });
});

describe('secret rotation with an overlap (signatures checked with standardwebhooks)', () => {
  const env = useEnv({ timeout_ms: 2000, attempts: 2, backoff_ms: 200, allow_networks: ['127.0.0.1/32'] });
  const verifies = (secret: string, r: Received | undefined) => {
    try {
      new Webhook(secret).verify(r?.body ?? '', headersOf(r?.headers ?? {}));
      return true;
    } catch {
      return false;
    }
  };
  const deliver = async (o: { token?: string }) => {
    const view = jobView();
    const [id = ''] = await env.rt.enqueueJobEvent('job.succeeded', view, o.token ? { url: `${env.receiver.url}/cb`, token: o.token } : null);
    expect(await settled(env, id)).toBe('completed');
    return env.receiver.received.find((r) => r.headers['webhook-id'] === id);
  };

  it('an endpoint rotated with overlap_seconds carries both signatures until the overlap ends, then the new one only', async () => {
    const { endpoint, secret: old } = await env.rt.webhooks.createEndpoint({ url: `${env.receiver.url}/rot`, events: ['job.succeeded'], created_by: 'test' });
    const before = await deliver({});
    expect(String(before?.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(verifies(old, before)).toBe(true);

    const rotated = await env.rt.webhooks.rotateSecret(endpoint.id, 3);
    const during = await deliver({});
    expect(String(during?.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifies(rotated?.secret ?? '', during)).toBe(true);
    expect(verifies(old, during)).toBe(true);
    expect(verifies(newWebhookSecret(), during)).toBe(false);

    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(rotated?.overlap_until ?? '') - Date.now() + 100)));
    const after = await deliver({});
    expect(String(after?.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(verifies(rotated?.secret ?? '', after)).toBe(true);
    expect(verifies(old, after)).toBe(false);
    await env.rt.webhooks.deleteEndpoint(endpoint.id);
  });

  it("a token's webhook_secret_previous signs beside webhook_secret until webhook_secret_previous_until, and not after", async () => {
    const during = await deliver({ token: 'rotating' });
    expect(String(during?.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifies(ROTATING.now, during)).toBe(true);
    expect(verifies(ROTATING.previous, during)).toBe(true);
    const after = await deliver({ token: 'rotated' });
    expect(String(after?.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(verifies(ROTATED.now, after)).toBe(true);
    expect(verifies(ROTATED.previous, after)).toBe(false);
  });
});
