/**
 * Webhook endpoints (admin), per-job `webhook_url` on every mutating route, and the delivery log and
 * redelivery routes, against the machine's Redis.
 */
import { randomBytes } from 'node:crypto';
import { newWebhookSecret, WEBHOOK_QUEUE } from '@provisioner/contracts';
import { WebhookStore } from '@provisioner/store';
import { keys } from '@provisioner/store/testing';
import { Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { TOKENS, useHarness } from './harness.ts';

const ADMIN_SECRET = newWebhookSecret();
const ALICE = `alice-${randomBytes(16).toString('hex')}`;
const LIMITED = `lim-${randomBytes(16).toString('hex')}`;
const h = useHarness({
  extra: {
    tokens: [
      { name: 'admin', token: TOKENS.admin, scopes: ['admin'], webhook_secret: ADMIN_SECRET },
      { name: 'reader', token: TOKENS.read, scopes: ['read'] },
      { name: 'writer', token: TOKENS.write, scopes: ['read', 'write'] },
      { name: 'alice', token: ALICE, scopes: ['read', 'write'], owner: 'alice', webhook_secret: newWebhookSecret() },
      { name: 'limited', token: LIMITED, scopes: ['read', 'write'] },
    ],
    // As the local configuration: loopback allowed, nothing else that is not global unicast. A redelivery's
    // attempts differ from a delivery's, so a test can tell which were given.
    webhooks: { allow_networks: ['127.0.0.0/8', '::1/128'], redelivery_attempts: 2, redelivery_limit: { requests: 12, per_seconds: 60 } },
  },
});

const HOOK = 'https://hooks.example.org/provisioner?key=abc';

describe('registered endpoints', () => {
  it('need the admin scope', async () => {
    for (const token of [TOKENS.write, TOKENS.read]) {
      expect((await h.fetch('/v1/webhooks', { method: 'POST', token, json: { url: HOOK, events: ['job.succeeded'] } })).status).toBe(403);
      expect((await h.fetch('/v1/webhooks', { token })).status).toBe(403);
    }
    expect((await h.fetch('/v1/webhooks', { token: null })).status).toBe(401);
  });

  it('register answers the secret once; list, rotate and delete never show it again', async () => {
    const r = await h.fetch('/v1/webhooks', { method: 'POST', json: { url: HOOK, events: ['job.succeeded', 'job.failed'] } });
    expect(r.status).toBe(201);
    const made = (await r.json()) as { id: string; secret: string; url: string; events: string[]; disabled_at: null };
    expect(made.id).toMatch(/^whk_[a-f0-9]{32}$/);
    expect(made.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(r.headers.get('location')).toBe(`/v1/webhooks/${made.id}`);
    expect(made).toMatchObject({ url: HOOK, events: ['job.succeeded', 'job.failed'], disabled_at: null, created_by: 'admin' });

    const listText = await (await h.fetch('/v1/webhooks')).text();
    expect(listText).toContain(made.id);
    expect((JSON.parse(listText) as { webhooks: Array<{ id: string; stats: unknown }> }).webhooks.find((w) => w.id === made.id)?.stats).toEqual({
      attempts: 0,
      delivered: 0,
      success_rate: null,
      last_error: null,
      last_error_at: null,
      last_delivered_at: null,
      queued: 0,
      retrying: 0,
      next_retry_at: null,
    });
    expect(listText).not.toContain(made.secret.slice(6));
    expect(listText).not.toMatch(/secret/);
    // Not in Redis in plain text either.
    expect(JSON.stringify(await h.redis.hgetall(keys.webhookEndpoints(h.prefix)))).not.toContain(made.secret.slice(6));

    const rot = await h.fetch(`/v1/webhooks/${made.id}/rotate-secret`, { method: 'POST' });
    expect(rot.status).toBe(200);
    const rotated = (await rot.json()) as { id: string; secret: string; overlap_until: string | null };
    expect(rotated.overlap_until).toBeNull();
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(made.secret);
    const hooks = new WebhookStore(h.redis, h.config, h.queues.get(WEBHOOK_QUEUE));
    expect((await hooks.endpointWithSecret(made.id))?.secret).toBe(rotated.secret);
    // Stats per endpoint: its attempts as the delivery worker records them, and its deliveries waiting in the queue.
    const at = new Date().toISOString();
    const base = { delivery_id: 'msg_x', type: 'job.succeeded' as const, endpoint_id: made.id, url: HOOK, attempt: 1, redelivery: false, at, duration_ms: 5 };
    await hooks.recordAttempt('job_stats', { ...base, status_code: 503, error: 'HTTP 503', outcome: 'retrying' });
    await hooks.recordAttempt('job_stats', { ...base, attempt: 2, status_code: 200, error: null, outcome: 'delivered' });
    await hooks.recordAttempt('job_stats', { ...base, attempt: 1, status_code: 200, error: null, outcome: 'delivered' });
    const statJob = (await (
      await h.fetch('/v1/vms', { method: 'POST', json: { vm_name: 'statvm', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' } })
    ).json()) as { id: string };
    const view = (await (await h.fetch(`/v1/jobs/${statJob.id}`)).json()) as Parameters<WebhookStore['enqueueJobEvent']>[1];
    await hooks.enqueueJobEvent('job.succeeded', { ...view, state: 'succeeded' }, null);
    const stats = ((await (await h.fetch('/v1/webhooks')).json()) as { webhooks: Array<{ id: string; stats: Record<string, unknown> }> }).webhooks.find(
      (w) => w.id === made.id,
    )?.stats;
    expect(stats).toMatchObject({
      attempts: 3,
      delivered: 2,
      success_rate: 0.667,
      last_error: 'HTTP 503',
      last_error_at: at,
      last_delivered_at: at,
      queued: 1,
    });
    expect((await hooks.endpointWithSecret(made.id))?.secrets).toEqual([rotated.secret]);

    // overlap_seconds: the old secret keeps signing beside the new one until overlap_until (listed too).
    for (const json of [{ overlap_seconds: -1 }, { overlap_seconds: 604_801 }, { overlap_seconds: 1.5 }, { overlap_seconds: '60' }, { overlap: 60 }]) {
      const bad = await h.fetch(`/v1/webhooks/${made.id}/rotate-secret`, { method: 'POST', json });
      expect(bad.status, JSON.stringify(json)).toBe(422);
      expect(JSON.stringify(await bad.json())).toMatch(/overlap/);
    }
    expect((await hooks.endpointWithSecret(made.id))?.secret).toBe(rotated.secret); // a refused rotation changed nothing
    const t0 = Date.now();
    const over = await h.fetch(`/v1/webhooks/${made.id}/rotate-secret`, { method: 'POST', json: { overlap_seconds: 604_800 } });
    expect(over.status).toBe(200);
    const overlapped = (await over.json()) as { secret: string; overlap_until: string };
    expect(Date.parse(overlapped.overlap_until) - t0).toBeGreaterThanOrEqual(604_800_000 - 1000);
    expect((await hooks.endpointWithSecret(made.id))?.secrets).toEqual([overlapped.secret, rotated.secret]);
    const listed = (await (await h.fetch('/v1/webhooks')).json()) as { webhooks: Array<{ id: string; overlap_until: string | null }> };
    expect(listed.webhooks.find((w) => w.id === made.id)?.overlap_until).toBe(overlapped.overlap_until);

    expect((await h.fetch(`/v1/webhooks/${made.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await h.fetch(`/v1/webhooks/${made.id}`, { method: 'DELETE' })).status).toBe(404);
    expect((await h.fetch(`/v1/webhooks/${made.id}/rotate-secret`, { method: 'POST' })).status).toBe(404);
    expect((await h.fetch('/v1/webhooks/nope', { method: 'DELETE' })).status).toBe(404);
  });

  it('rejects URLs that are not http(s), malformed or carry credentials, and unknown events', async () => {
    const bad: unknown[] = [
      { url: 'ftp://hooks.example.org/x', events: ['job.succeeded'] },
      { url: 'file:///etc/passwd', events: ['job.succeeded'] },
      { url: 'not a url', events: ['job.succeeded'] },
      { url: 'http://', events: ['job.succeeded'] },
      { url: 'https://user:pw@hooks.example.org/', events: ['job.succeeded'] },
      { url: HOOK, events: [] },
      { url: HOOK, events: ['vm.exploded'] },
      { url: HOOK, events: ['job.succeeded', 'vm.readyy'] },
      { url: HOOK },
    ];
    for (const json of bad) expect((await h.fetch('/v1/webhooks', { method: 'POST', json })).status, JSON.stringify(json)).toBe(422);
    const vmEvents = await h.fetch('/v1/webhooks', { method: 'POST', json: { url: HOOK, events: ['vm.ready', 'vm.state_changed'] } });
    expect(vmEvents.status).toBe(201);
    const made = (await vmEvents.json()) as { id: string; events: string[] };
    expect(made.events).toEqual(['vm.ready', 'vm.state_changed']);
    expect((await h.fetch(`/v1/webhooks/${made.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await h.fetch('/v1/webhooks', { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } })).status).toBe(400);
  });
});

describe('URLs whose host is an address no delivery may reach', () => {
  const DENIED: Array<[string, RegExp]> = [
    ['http://169.254.169.254/x', /169\.254\.169\.254 is a cloud metadata address/],
    ['http://10.1.2.3/x', /10\.1\.2\.3 is a private address/],
    ['http://[::ffff:0:a9fe:a9fe]/', /SIIT\) address of 169\.254\.169\.254/],
    ['http://[::ffff:0:7f00:1]:8091/', /SIIT\) address of 127\.0\.0\.1/],
    ['http://[::ffff:169.254.169.254]/', /169\.254\.169\.254 is a cloud metadata/],
    ['http://2852039166/latest', /169\.254\.169\.254/],
    ['https://192.168.122.1:8443/', /private/],
    ['http://[fd00:ec2::254]/', /cloud metadata/],
    ['http://[fe80::1]/', /link-local/],
    ['http://[64:ff9b::a00:1]/', /NAT64/],
    ['http://0/', /unspecified/],
  ];

  it('are refused at registration (422 naming why) and register nothing', async () => {
    const before = await (await h.fetch('/v1/webhooks')).text();
    for (const [url, reason] of DENIED) {
      const r = await h.fetch('/v1/webhooks', { method: 'POST', json: { url, events: ['job.succeeded'] } });
      expect(r.status, url).toBe(422);
      const body = (await r.json()) as { error: { message: string; details: Array<{ path: string; message: string }> } };
      expect(body.error.message, url).toMatch(reason);
      expect(body.error.message, url).toMatch(/^url .*global unicast/);
      expect(body.error.details[0]?.path).toBe('url');
    }
    expect(await (await h.fetch('/v1/webhooks')).text()).toBe(before);
  });

  it('are refused as a job’s webhook_url (422) and submit nothing', async () => {
    await h.writeInventory('r1', 'h1', [{ name: 'literal-hooked' }]);
    const before = await h.jobCount();
    for (const [url, reason] of DENIED) {
      for (const [path, json] of [
        ['/v1/vms', { vm_name: 'literal-new', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', webhook_url: url }],
        ['/v1/vms/r1/literal-hooked/start', { webhook_url: url }],
      ] as const) {
        const r = await h.fetch(path, { method: 'POST', json, headers: { 'Idempotency-Key': `literal-${randomBytes(4).toString('hex')}` } });
        expect(r.status, `${path} ${url}`).toBe(422);
        expect(((await r.json()) as { error: { message: string } }).error.message, url).toMatch(new RegExp(`^webhook_url .*${reason.source}`));
      }
    }
    expect(await h.jobCount()).toBe(before);
  });

  it('allowed networks, global addresses and names are accepted (names are checked when a delivery connects)', async () => {
    for (const url of [
      'http://127.0.0.1:8091/hook',
      'http://[::1]:8091/hook',
      'https://8.8.8.8/hook',
      'https://[2606:4700::1111]/',
      'https://hooks.internal.example/x',
    ]) {
      const r = await h.fetch('/v1/webhooks', { method: 'POST', json: { url, events: ['job.succeeded'] } });
      expect(r.status, url).toBe(201);
      expect((await h.fetch(`/v1/webhooks/${((await r.json()) as { id: string }).id}`, { method: 'DELETE' })).status).toBe(204);
    }
  });
});

describe('webhook_url on mutating routes', () => {
  const jobData = async (id: string) => (await h.queues.find(id))?.job.data as Record<string, unknown>;

  it('is validated at submit and stored with the token name only', async () => {
    const create = await h.fetch('/v1/vms', {
      method: 'POST',
      json: { vm_name: 'hooked', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', webhook_url: HOOK },
    });
    expect(create.status).toBe(202);
    const job = (await create.json()) as { id: string };
    const data = await jobData(job.id);
    expect(data).toMatchObject({ webhook_url: HOOK, submitted_by: 'admin' });
    expect(JSON.stringify(data)).not.toContain(ADMIN_SECRET.slice(6));

    await h.writeInventory('r1', 'h1', [{ name: 'hooked2' }]);
    const ops: Array<[string, string, Record<string, unknown>]> = [
      ['POST', '/v1/vms/r1/hooked2/start', {}],
      ['POST', '/v1/vms/r1/hooked2/stop', { force: true }],
      ['POST', '/v1/vms/r1/hooked2/reboot', {}],
      ['PUT', '/v1/vms/r1/hooked2/tags', { tags: { a: 'b' } }],
      ['DELETE', '/v1/vms/r1/hooked2', {}],
    ];
    for (const [method, path, body] of ops) {
      const r = await h.fetch(path, { method, json: { ...body, webhook_url: `${HOOK}&op=${method}` } });
      expect(r.status, path).toBe(202);
      const text = await r.text();
      expect(text).not.toContain('whsec_');
      expect(await jobData((JSON.parse(text) as { id: string }).id), path).toMatchObject({ webhook_url: `${HOOK}&op=${method}`, submitted_by: 'admin' });
      // Without webhook_url (and without any body where none is needed) nothing changes.
      const plain = await h.fetch(path, { method, ...(method === 'PUT' || method === 'POST' ? { json: body } : {}) });
      expect(plain.status, path).toBe(202);
      expect((await jobData(((await plain.json()) as { id: string }).id)).webhook_url).toBeUndefined();
    }
  });

  it('is 422 when not http(s) or malformed, or when the token has no webhook_secret; 400 for a malformed body', async () => {
    await h.writeInventory('r1', 'h1', [{ name: 'hooked3' }]);
    for (const url of ['ftp://x.example/', 'javascript:alert(1)', 'http//missing-colon', '']) {
      expect((await h.fetch('/v1/vms/r1/hooked3/start', { method: 'POST', json: { webhook_url: url } })).status, url).toBe(422);
    }
    const noSecret = await h.fetch('/v1/vms/r1/hooked3/start', { method: 'POST', token: TOKENS.write, json: { webhook_url: HOOK } });
    expect(noSecret.status).toBe(422);
    expect(((await noSecret.json()) as { error: { message: string } }).error.message).toMatch(/webhook_secret/);
    expect((await h.fetch('/v1/vms/r1/hooked3/start', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect(await h.jobCount()).toBeGreaterThan(0);
  });
  it('webhook_events: job.progress (and vm.ready on a create) are kept with the job; unknown types and events without a URL are 422 and queue nothing', async () => {
    await h.writeInventory('r1', 'h1', [{ name: 'hooked4' }]);
    const r = await h.fetch('/v1/vms/r1/hooked4/start', {
      method: 'POST',
      json: { webhook_url: HOOK, webhook_events: ['job.progress', 'job.progress', 'job.succeeded'] },
    });
    expect(r.status).toBe(202);
    expect(await jobData(((await r.json()) as { id: string }).id)).toMatchObject({ webhook_url: HOOK, webhook_events: ['job.progress'] });
    const c = await h.fetch('/v1/vms', {
      method: 'POST',
      json: { vm_name: 'hooked5', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', webhook_url: HOOK, webhook_events: ['vm.ready', 'job.progress'] },
    });
    expect(c.status).toBe(202);
    expect(await jobData(((await c.json()) as { id: string }).id)).toMatchObject({ webhook_events: ['vm.ready', 'job.progress'] });
    const before = await h.jobCount();
    for (const json of [
      { webhook_url: HOOK, webhook_events: ['job.exploded'] },
      { webhook_url: HOOK, webhook_events: ['vm.state_changed'] },
      { webhook_url: HOOK, webhook_events: 'job.progress' },
      { webhook_events: ['job.progress'] },
    ]) {
      const bad = await h.fetch('/v1/vms/r1/hooked4/start', { method: 'POST', json });
      expect(bad.status, JSON.stringify(json)).toBe(422);
      expect(JSON.stringify(await bad.json()), JSON.stringify(json)).toContain('webhook_events');
    }
    expect(await h.jobCount()).toBe(before);
  });
});

type JobViewArg = Parameters<WebhookStore['enqueueJobEvent']>[1];

const hooksOf = () => new WebhookStore(h.redis, h.config, h.queues.get(WEBHOOK_QUEUE));

/** A job of the API's own (queued, never run here) and its view, to hang deliveries on. */
async function submitted(vm_name: string, json: Record<string, unknown> = {}): Promise<JobViewArg> {
  const create = await h.fetch('/v1/vms', { method: 'POST', json: { vm_name, region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', ...json } });
  expect(create.status).toBe(202);
  const { id } = (await create.json()) as { id: string };
  return { ...((await (await h.fetch(`/v1/jobs/${id}`)).json()) as JobViewArg), state: 'succeeded' };
}

/** Sends every queued delivery (a receiver answering 200), as a delivery worker would, until `ids` are done. */
async function sendQueued(ids: string[]): Promise<void> {
  const q = h.queues.get(WEBHOOK_QUEUE);
  const w = new Worker(WEBHOOK_QUEUE, async () => ({ status: 200 }), {
    connection: h.redis.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true }),
    prefix: h.prefix,
  });
  try {
    const end = Date.now() + 10_000;
    for (const id of ids) {
      while ((await q.getJobState(id)) !== 'completed') {
        if (Date.now() > end) throw new Error(`delivery job ${id} not sent`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  } finally {
    await w.close();
  }
}

/** BullMQ ids of a delivery's jobs: the delivery itself and its redeliveries. */
async function deliveryJobs(id: string) {
  const all = await h.queues.get(WEBHOOK_QUEUE).getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'], 0, 1000);
  return all.filter((j) => j.data.id === id);
}

const redeliver = (jobId: string, id: string, token = TOKENS.admin) => h.fetch(`/v1/jobs/${jobId}/deliveries/${id}/redeliver`, { method: 'POST', token });

describe('delivery log and redelivery', () => {
  it('lists deliveries with every attempt and queues a redelivery with the same webhook-id', async () => {
    const view = await submitted('logged');
    const job = { id: view.id };
    const hooks = hooksOf();
    const [id] = await hooks.enqueueJobEvent('job.succeeded', view, { url: HOOK, token: 'admin' });
    await hooks.recordAttempt(job.id, {
      delivery_id: String(id),
      type: 'job.succeeded',
      endpoint_id: null,
      url: 'https://hooks.example.org/provisioner?…',
      attempt: 1,
      redelivery: false,
      at: new Date().toISOString(),
      status_code: 503,
      duration_ms: 12,
      error: 'HTTP 503',
      outcome: 'retrying',
    });

    const r = await h.fetch(`/v1/jobs/${job.id}/deliveries`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { deliveries: Array<{ id: string; state: string; attempts: unknown[] }> };
    expect(body.deliveries).toEqual([
      {
        id,
        type: 'job.succeeded',
        endpoint_id: null,
        url: 'https://hooks.example.org/provisioner?…',
        state: 'retrying',
        attempts: [{ attempt: 1, redelivery: false, at: expect.any(String), status_code: 503, duration_ms: 12, error: 'HTTP 503', outcome: 'retrying' }],
      },
    ]);
    const asReader = (await (await h.fetch(`/v1/jobs/${job.id}/deliveries`, { token: TOKENS.read })).json()) as { deliveries: Array<{ url: string | null }> };
    expect(asReader.deliveries.map((d) => d.url)).toEqual([null]);

    expect((await redeliver(job.id, String(id), TOKENS.read)).status).toBe(403);
    // The delivery's own attempts are not over (it waits in the queue): a redelivery now would be a second copy.
    const early = await redeliver(job.id, String(id), TOKENS.write);
    expect(early.status).toBe(409);
    expect(((await early.json()) as { error: { message: string } }).error.message).toMatch(/still being sent/);
    await sendQueued([String(id)]);

    const re = await redeliver(job.id, String(id), TOKENS.write);
    expect(re.status).toBe(202);
    const again = await deliveryJobs(String(id));
    expect(again.map((j) => j.data.redelivery).sort()).toEqual([false, true]);
    expect(new Set(again.map((j) => j.data.body)).size).toBe(1);
    // A resend now, with webhooks.redelivery_attempts tries, not another schedule of webhooks.attempts.
    expect(again.find((j) => j.data.redelivery)?.opts.attempts).toBe(h.config.webhooks.redelivery_attempts);
    expect(h.config.webhooks.redelivery_attempts).not.toBe(h.config.webhooks.attempts);

    expect((await redeliver(`job_${'0'.repeat(32)}`, String(id))).status).toBe(404);
    expect((await redeliver(job.id, `msg_${'0'.repeat(32)}`)).status).toBe(404);
    expect((await redeliver(job.id, 'nope')).status).toBe(404);
    expect((await h.fetch(`/v1/jobs/job_${'0'.repeat(32)}/deliveries`)).status).toBe(404);
  });

  it('one redelivery in flight per delivery: 409 while one is queued, also for requests racing each other', async () => {
    const view = await submitted('redelivered-once');
    const [id] = await hooksOf().enqueueJobEvent('job.succeeded', view, { url: HOOK, token: 'admin' });
    await sendQueued([String(id)]);

    const answers = await Promise.all(Array.from({ length: 8 }, () => redeliver(view.id, String(id))));
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409, 409, 409, 409, 409, 409, 409]);
    const queued = (await deliveryJobs(String(id))).filter((j) => j.data.redelivery);
    expect(queued).toHaveLength(1);
    const busy = await redeliver(view.id, String(id));
    expect(busy.status).toBe(409);
    expect(busy.headers.get('retry-after')).toBe('5');
    expect(((await busy.json()) as { error: { message: string } }).error.message).toMatch(/a redelivery of this delivery is still queued/);

    // Once it was sent, another may be asked for.
    await sendQueued([String(queued[0]?.id)]);
    expect((await redeliver(view.id, String(id))).status).toBe(202);
    expect((await deliveryJobs(String(id))).filter((j) => j.data.redelivery)).toHaveLength(2);
  });

  it('deliveries to registered endpoints are for admins: hidden from and not redelivered by other tokens', async () => {
    const reg = await h.fetch('/v1/webhooks', { method: 'POST', json: { url: 'https://ops.example.org/hook', events: ['job.succeeded'] } });
    const endpoint = ((await reg.json()) as { id: string }).id;
    try {
      const view = await submitted('admin-only', { webhook_url: HOOK });
      const ids = await hooksOf().enqueueJobEvent('job.succeeded', view, { url: HOOK, token: 'admin' });
      expect(ids).toHaveLength(2);
      await sendQueued(ids);
      const byEndpoint = (await (await h.fetch(`/v1/jobs/${view.id}/deliveries`)).json()) as { deliveries: Array<{ id: string; endpoint_id: string | null }> };
      const toEndpoint = byEndpoint.deliveries.find((d) => d.endpoint_id === endpoint)?.id as string;
      const toCallback = byEndpoint.deliveries.find((d) => d.endpoint_id === null)?.id as string;
      expect(byEndpoint.deliveries).toHaveLength(2);

      for (const token of [TOKENS.read, TOKENS.write]) {
        const text = await (await h.fetch(`/v1/jobs/${view.id}/deliveries`, { token })).text();
        expect(text).not.toContain(endpoint);
        expect((JSON.parse(text) as { deliveries: Array<{ id: string }> }).deliveries.map((d) => d.id)).toEqual([toCallback]);
      }
      const refused = await redeliver(view.id, toEndpoint, TOKENS.write);
      expect(refused.status).toBe(403);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/registered webhook endpoint needs the admin scope/);
      expect((await deliveryJobs(toEndpoint)).filter((j) => j.data.redelivery)).toHaveLength(0);
      // Their own job's webhook_url stays theirs; the admin redelivers to the endpoint.
      expect((await redeliver(view.id, toCallback, TOKENS.write)).status).toBe(202);
      expect((await redeliver(view.id, toEndpoint, TOKENS.admin)).status).toBe(202);
    } finally {
      expect((await h.fetch(`/v1/webhooks/${endpoint}`, { method: 'DELETE' })).status).toBe(204);
    }
  });

  it('limits redeliveries per token (429 with Retry-After), other tokens unaffected', async () => {
    const { requests, per_seconds } = h.config.webhooks.redelivery_limit;
    const view = await submitted('rate-limited', { webhook_url: HOOK });
    const [id] = await hooksOf().enqueueJobEvent('job.succeeded', view, { url: HOOK, token: 'admin' });
    await sendQueued([String(id)]);
    // Align to the start of a window, so the count is not cut in two.
    const windowMs = per_seconds * 1000;
    if (windowMs - (Date.now() % windowMs) < 5000) await new Promise((r) => setTimeout(r, windowMs - (Date.now() % windowMs) + 50));
    const statuses: number[] = [];
    for (let i = 0; i < requests; i++) statuses.push((await redeliver(view.id, String(id), LIMITED)).status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(1); // the rest: 409, one in flight
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    const over = await redeliver(view.id, String(id), LIMITED);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await over.json()) as { error: { message: string } }).error.message).toMatch(new RegExp(`at most ${requests} redeliveries per ${per_seconds} s`));
    expect((await redeliver(view.id, String(id), TOKENS.write)).status).toBe(409); // counted apart: in flight, not limited
  });

  it('shows where deliveries go, and the addresses in errors, to admin tokens only', async () => {
    const view = await submitted('leaky', { webhook_url: 'https://hooks.internal/cb?key=1' });
    const [id] = await hooksOf().enqueueJobEvent('job.succeeded', view, { url: 'https://hooks.internal/cb?key=1', token: 'admin' });
    const errors = [
      'refused: 192.168.122.1 is a private address',
      'refused: hooks.internal resolves to 10.20.30.40 is a private address',
      'refused: ::ffff:0:a9fe:a9fe is an IPv4-translated (SIIT) address of 169.254.169.254',
      'ECONNREFUSED: connect ECONNREFUSED 203.0.113.7:443',
      'ENOTFOUND: getaddrinfo ENOTFOUND hooks.internal',
      'ECONNREFUSED: connect ECONNREFUSED [fd00:1::5]:8443',
      "ERR_TLS_CERT_ALTNAME_INVALID: Hostname/IP does not match certificate's altnames: Host: hooks.internal. is not in the cert's altnames: DNS:*.corp.example",
      'HTTP 503',
      'timeout after 10000 ms',
    ];
    for (const [i, error] of errors.entries()) {
      await hooksOf().recordAttempt(view.id, {
        delivery_id: String(id),
        type: 'job.succeeded',
        endpoint_id: null,
        url: 'https://hooks.internal/cb?…',
        attempt: i + 1,
        redelivery: false,
        at: new Date().toISOString(),
        status_code: error.startsWith('HTTP') ? 503 : null,
        duration_ms: 1,
        error,
        outcome: error.startsWith('refused') ? 'refused' : 'retrying',
      });
    }
    type Shown = { deliveries: Array<{ url: string | null; attempts: Array<{ error: string | null }> }> };
    const admin = (await (await h.fetch(`/v1/jobs/${view.id}/deliveries`)).json()) as Shown;
    expect(admin.deliveries[0]?.url).toBe('https://hooks.internal/cb?…');
    expect(admin.deliveries[0]?.attempts.map((a) => a.error)).toEqual(errors);

    for (const token of [TOKENS.read, TOKENS.write]) {
      const text = await (await h.fetch(`/v1/jobs/${view.id}/deliveries`, { token })).text();
      for (const leak of ['192.168.122.1', '10.20.30.40', 'a9fe', '169.254', '203.0.113.7', 'fd00', 'hooks.internal', 'corp.example'])
        expect(text).not.toContain(leak);
      const shown = JSON.parse(text) as Shown;
      expect(shown.deliveries[0]?.url).toBeNull();
      expect(shown.deliveries[0]?.attempts.map((a) => a.error)).toEqual([
        'refused: the destination is a private address',
        "refused: the destination's name resolves to a private address",
        'refused: the destination is an IPv4-translated (SIIT) address',
        'ECONNREFUSED: connect ECONNREFUSED [destination]:443',
        'ENOTFOUND: getaddrinfo ENOTFOUND [destination]',
        'ECONNREFUSED: connect ECONNREFUSED [destination]:8443',
        "ERR_TLS_CERT_ALTNAME_INVALID: Hostname/IP does not match certificate's altnames: Host: [destination] is not in the cert's altnames: DNS:[destination]",
        'HTTP 503',
        'timeout after 10000 ms',
      ]);
    }
  });
});

describe('job.canceled and owner-bound tokens', () => {
  it('a queued job canceled by the API queues its job.canceled deliveries (no worker ever sees it end)', async () => {
    const create = await h.fetch('/v1/vms', {
      method: 'POST',
      json: { vm_name: 'cancel-hooked', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', webhook_url: HOOK },
    });
    const { id } = (await create.json()) as { id: string };
    expect((await h.fetch(`/v1/jobs/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    const log = (await (await h.fetch(`/v1/jobs/${id}/deliveries`)).json()) as { deliveries: Array<{ id: string; type: string; state: string }> };
    expect(log.deliveries.map((d) => [d.type, d.state])).toEqual([['job.canceled', 'pending']]);
    const [queued] = await h.queues
      .get(WEBHOOK_QUEUE)
      .getJobs(['waiting'], 0, 100)
      .then((js) => js.filter((j) => j.data.job_id === id));
    const body = JSON.parse(String(queued?.data.body)) as { type: string; data: { id: string; state: string } };
    expect(body).toMatchObject({ type: 'job.canceled', data: { id, state: 'canceled' } });
  });

  it("an owner-bound token cannot read or redeliver another owner's deliveries", async () => {
    const create = await h.fetch('/v1/vms', {
      method: 'POST',
      json: { vm_name: 'not-alices', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', tags: { owner: 'bob' }, webhook_url: HOOK },
    });
    const { id } = (await create.json()) as { id: string };
    const hooks = new WebhookStore(h.redis, h.config, h.queues.get(WEBHOOK_QUEUE));
    const view = (await (await h.fetch(`/v1/jobs/${id}`)).json()) as Parameters<WebhookStore['enqueueJobEvent']>[1];
    const [delivery] = await hooks.enqueueJobEvent('job.succeeded', view, { url: HOOK, token: 'admin' });
    expect((await h.fetch(`/v1/jobs/${id}/deliveries`, { token: ALICE })).status).toBe(404);
    expect((await h.fetch(`/v1/jobs/${id}/deliveries/${delivery}/redeliver`, { method: 'POST', token: ALICE })).status).toBe(404);
    expect((await h.fetch(`/v1/jobs/${id}/deliveries`)).status).toBe(200);
  });
});
