/**
 * The queue dashboard over HTTP: sign-in and its cookie, sessions in Redis, the read-only and admin
 * boards, the Origin check, and that job data reaches the browser redacted.
 */

import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { WEBHOOK_QUEUE } from '@provisioner/contracts';
import { WebhookStore } from '@provisioner/store';
import { keys } from '@provisioner/store/testing';
import { describe, expect, it } from 'vitest';
import { redact, stripInstallPaths } from '../../src/admin/board.ts';
import { Sessions } from '../../src/admin/session.ts';
import { b64, fail, fakeWorker, TOKENS, testConfig, useHarness } from './harness.ts';

const OWNED = `own-${randomBytes(16).toString('hex')}`;
const h = useHarness({ extra: { tokens: [...testConfig('{x}').tokens, { name: 'alice-bot', token: OWNED, scopes: ['read', 'write'], owner: 'alice' }] } });

async function signIn(token: string, origin: string | null = h.url): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (origin) headers.origin = origin;
  return fetch(`${h.url}/admin/login`, { method: 'POST', headers, body: new URLSearchParams({ token }).toString(), redirect: 'manual' });
}

async function sessionCookie(token: string): Promise<string> {
  const r = await signIn(token);
  expect(r.status).toBe(303);
  const cookie = /provisioner_session=([^;]+)/.exec(r.headers.get('set-cookie') ?? '')?.[1];
  expect(cookie).toBeTruthy();
  return `provisioner_session=${cookie}`;
}

const board = (path: string, cookie: string | null, init: RequestInit = {}) =>
  fetch(`${h.url}/admin/queues${path}`, {
    ...init,
    redirect: 'manual',
    headers: { ...(cookie ? { cookie } : {}), ...(init.headers as Record<string, string>) },
  });

describe('dashboard sign-in', () => {
  it('refuses without a session: pages redirect to the sign-in form, the API and assets answer 401', async () => {
    const page = await board('/', null);
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/admin/login');
    expect((await board('/queue/ops.r1.h1', null)).headers.get('location')).toBe('/admin/login');
    const api = await board('/api/queues', null);
    expect(api.status).toBe(401);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    expect((await board('/static/favicon-32x32.png', null)).status).toBe(401);
    // A bearer token does not open the dashboard: only the session cookie does.
    expect((await board('/api/queues', null, { headers: { authorization: `Bearer ${TOKENS.admin}` } })).status).toBe(401);
    expect((await board('/api/queues', 'provisioner_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status).toBe(401);
  });

  it('serves a form that POSTs the token (never in a URL) and refuses wrong or write-only tokens', async () => {
    const form = await fetch(`${h.url}/admin/login`);
    expect(form.status).toBe(200);
    const text = await form.text();
    expect(text).toMatch(/<form method="post" action="\/admin\/login"/);
    expect(text).toContain('type="password"');
    const wrong = await signIn('not-a-token-not-a-token');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await wrong.text()).not.toContain('not-a-token-not-a-token');
    // An owner-bound token sees only its owner's jobs through the API; the board shows every job.
    const owned = await signIn(OWNED);
    expect(owned.status).toBe(403);
    expect(owned.headers.get('set-cookie')).toBeNull();
  });

  it('sets an HttpOnly, SameSite=Strict cookie holding a random id; Redis holds no token', async () => {
    const r = await signIn(TOKENS.read);
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/admin/queues/');
    const set = r.headers.get('set-cookie') ?? '';
    expect(set).toMatch(/HttpOnly/i);
    expect(set).toMatch(/SameSite=Strict/i);
    expect(set).toMatch(/Path=\/admin/);
    expect(set).not.toContain(TOKENS.read);
    expect(set).not.toMatch(/Secure/i);
    const proxied = await fetch(`${h.url}/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: h.url, 'x-forwarded-proto': 'https' },
      body: new URLSearchParams({ token: TOKENS.read }).toString(),
      redirect: 'manual',
    });
    expect(proxied.headers.get('set-cookie')).toMatch(/^__Host-provisioner_session=[A-Za-z0-9_-]{43}; .*Path=\/;.*; Secure/i);
    const sessions = (await h.prefixKeys()).filter((k) => k.startsWith(keys.adminSession(h.prefix, '')));
    expect(sessions.length).toBeGreaterThan(0);
    for (const k of sessions) {
      expect(await h.redis.ttl(k)).toBeGreaterThan(0);
      expect(await h.redis.get(k)).not.toContain(TOKENS.read);
    }
  });

  it('refuses a sign-in POSTed from another origin, or with no Origin', async () => {
    expect((await signIn(TOKENS.admin, 'http://evil.example')).status).toBe(403);
    expect((await signIn(TOKENS.admin, null)).status).toBe(403);
  });

  it('signs out: the session is gone from Redis and the cookie is cleared', async () => {
    const cookie = await sessionCookie(TOKENS.read);
    expect((await board('/api/queues', cookie)).status).toBe(200);
    const out = await fetch(`${h.url}/admin/logout`, { method: 'POST', headers: { cookie, origin: h.url }, redirect: 'manual' });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(/provisioner_session=;/);
    expect((await board('/api/queues', cookie)).status).toBe(401);
  });
});

describe('dashboard sessions', () => {
  const digest = (t: string) => createHash('sha256').update(t).digest('hex');
  const sessionKeyOf = (cookie: string) => keys.adminSession(h.prefix, digest(cookie.split('=')[1] ?? ''));

  it('hold the SHA-256 of the token that signed in, and find the token again by it, never by its name', async () => {
    const cookie = await sessionCookie(TOKENS.read);
    expect(JSON.parse((await h.redis.get(sessionKeyOf(cookie))) ?? 'null')).toEqual({ token_sha256: digest(TOKENS.read), expires_at: expect.any(Number) });
    const id = cookie.split('=')[1];
    // Restarted with another token under the reader's name: it does not inherit the session.
    const swapped = testConfig(h.prefix, { tokens: [{ name: 'reader', token: TOKENS.admin, scopes: ['admin'] }] });
    expect(await new Sessions(h.redis, swapped).get(id)).toBeNull();
    // The same token under a new name keeps its session, with the scopes it has now.
    const renamed = testConfig(h.prefix, { tokens: [{ name: 'viewer', token: TOKENS.read, scopes: ['read', 'write'] }] });
    expect(await new Sessions(h.redis, renamed).get(id)).toMatchObject({ name: 'viewer', scopes: ['read', 'write'] });
    // Removed from the configuration: its sessions end.
    const removed = testConfig(h.prefix, { tokens: [{ name: 'admin', token: TOKENS.admin, scopes: ['admin'] }] });
    expect(await new Sessions(h.redis, removed).get(id)).toBeNull();
  });

  it('stand for the very token that signed in even were two tokens to share a name (the loader refuses that)', async () => {
    // Built past the schema on purpose: the session must not depend on names being unique.
    const twins = {
      ...h.config,
      tokens: [
        { name: 'ops', token: TOKENS.admin, scopes: ['admin' as const] },
        { name: 'ops', token: TOKENS.read, scopes: ['read' as const] },
      ],
    };
    const sessions = new Sessions(h.redis, twins);
    const id = await sessions.create(digest(TOKENS.read));
    expect(await sessions.get(id)).toMatchObject({ name: 'ops', scopes: ['read'] });
    await sessions.destroy(id);
  });
});

describe('dashboard boards', () => {
  it('lists every host queue, read-only for a read token, and shows job data redacted', async () => {
    const userData = '#cloud-config\npassword: hunter2-dashboard\n';
    const r = await h.fetch('/v1/vms', {
      method: 'POST',
      json: { vm_name: 'dash-vm', region_name: 'r1', instance_type: 'tiny', image: 'debian-12', user_data: b64(userData) },
    });
    expect(r.status).toBe(202);
    const job = (await r.json()) as { id: string; target: { host: string } };
    const queue = `ops.r1.${job.target.host}`;

    const cookie = await sessionCookie(TOKENS.read);
    const page = await board('/', cookie);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<base href="/admin/queues/"');
    expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");

    const list = (await (await board(`/api/queues?activeQueue=${queue}&status=latest&page=1&jobsPerPage=10`, cookie)).json()) as {
      queues: Array<{ name: string; readOnlyMode: boolean; jobs: Array<{ id: string; data: Record<string, unknown> }> }>;
    };
    // The webhook queue is the admins' (see 'dashboard: webhook deliveries').
    expect(list.queues.map((q) => q.name).sort()).toEqual(['ops.off.h1', 'ops.r1.h1', 'ops.r1.h2', 'ops.r2.h1']);
    expect(list.queues.every((q) => q.readOnlyMode)).toBe(true);
    const shown = list.queues.find((q) => q.name === queue)?.jobs.find((j) => j.id === job.id);
    expect(shown?.data).toMatchObject({ kind: 'create', vm_name: 'dash-vm', user_data_enc: '[redacted]' });
    expect(shown?.data.image).toEqual({ name: 'debian-12', url: 'https://[redacted]@images.example.org/debian-12.qcow2' });

    const detail = await (await board(`/api/queues/${queue}/${job.id}`, cookie)).text();
    expect(detail).toContain('dash-vm');
    const raw = JSON.stringify((await h.queues.get(queue).getJob(job.id))?.data);
    const enc = /"user_data_enc":"([^"]+)"/.exec(raw)?.[1] ?? '';
    expect(enc.length).toBeGreaterThan(10);
    for (const secret of [enc, 'hunter2', b64(userData), 'secret@']) expect(detail).not.toContain(secret);

    // Read-only is enforced by the server, not only hidden in the page.
    const retry = await board(`/api/queues/${queue}/${job.id}/clean`, cookie, { method: 'PUT', headers: { origin: h.url } });
    expect(retry.status).toBe(403);
    expect(await h.queues.get(queue).getJob(job.id)).toBeTruthy();
  });

  it('lets an admin retry a failed job, not add or edit jobs, and never without its Origin', async () => {
    const w = fakeWorker(h, 'r2', 'h1', async () => {
      throw fail('CONNECTION');
    });
    try {
      await h.writeInventory('r2', 'h1', [{ name: 'dash-fail' }]);
      const r = await h.fetch('/v1/vms/r2/dash-fail/start', { method: 'POST' });
      expect(r.status).toBe(202);
      const { id } = (await r.json()) as { id: string };
      const queue = h.queues.get('ops.r2.h1');
      await expect.poll(async () => (await queue.getJob(id))?.finishedOn !== undefined, { timeout: 10_000 }).toBe(true);
      await w.close();

      const cookie = await sessionCookie(TOKENS.admin);
      const list = (await (await board('/api/queues', cookie)).json()) as { queues: Array<{ readOnlyMode: boolean }> };
      expect(list.queues.every((q) => !q.readOnlyMode)).toBe(true);

      const put = (path: string, origin: string | null, body?: unknown) =>
        board(path, cookie, {
          method: path.endsWith('update-data') ? 'PATCH' : path.endsWith('/add') ? 'POST' : 'PUT',
          headers: { ...(origin ? { origin } : {}), 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      expect((await put(`/api/queues/ops.r2.h1/${id}/retry`, null)).status).toBe(403);
      expect((await put(`/api/queues/ops.r2.h1/${id}/retry`, 'http://evil.example')).status).toBe(403);
      expect((await put('/api/queues/ops.r2.h1/add', h.url, { name: 'create', data: {} })).status).toBe(403);
      expect((await put(`/api/queues/ops.r2.h1/${id}/update-data`, h.url, { data: {} })).status).toBe(403);
      expect((await put('/api/queues/ops.r2.h1/obliterate', h.url)).status).toBe(403);
      expect(await queue.getJobState(id)).toBe('failed');

      const retried = await put(`/api/queues/ops.r2.h1/${id}/retry`, h.url);
      expect(retried.status).toBe(204);
      expect(await queue.getJobState(id)).not.toBe('failed');
    } finally {
      await w.close();
    }
  });
});

describe('dashboard redaction beyond job data', () => {
  it('masks secrets in failure reasons, stack traces and job logs', async () => {
    const w = fakeWorker(h, 'r2', 'h1', async (job) => {
      await job.log('fetching https://img.example/a.qcow2?sig=LOGSECRET');
      throw fail('DOWNLOAD_FAILED', 'curl https://user:PWSECRET@img.example/a.qcow2?sig=QSECRET failed');
    });
    try {
      await h.writeInventory('r2', 'h1', [{ name: 'dash-leak' }]);
      const r = await h.fetch('/v1/vms/r2/dash-leak/start', { method: 'POST' });
      const { id } = (await r.json()) as { id: string };
      const queue = h.queues.get('ops.r2.h1');
      await expect.poll(async () => (await queue.getJob(id))?.finishedOn !== undefined, { timeout: 10_000 }).toBe(true);
      // The raw job does hold them (so the test would see a leak).
      expect(JSON.stringify(await queue.getJob(id))).toContain('QSECRET');
      const cookie = await sessionCookie(TOKENS.admin);
      const answers = [
        await (await board(`/api/queues/ops.r2.h1/${id}`, cookie)).text(),
        await (await board(`/api/queues/ops.r2.h1/${id}/logs`, cookie)).text(),
        await (await board('/api/queues?activeQueue=ops.r2.h1&status=failed&page=1&jobsPerPage=50', cookie)).text(),
      ];
      expect(answers[0]).toContain('DOWNLOAD_FAILED');
      expect(answers[1]).toContain('fetching https://img.example/a.qcow2?[redacted]');
      for (const a of answers) for (const secret of ['LOGSECRET', 'PWSECRET', 'QSECRET']) expect(a).not.toContain(secret);
    } finally {
      await w.close();
    }
  });
});

describe('dashboard: install paths and public values', () => {
  it('shows stack traces and failure reasons without the install’s absolute paths, and an image’s sha256 as it is', async () => {
    const root = fileURLToPath(new URL('../../../../', import.meta.url));
    const expected = createHash('sha256').update('the image').digest('hex');
    const got = createHash('sha256').update('another image').digest('hex');
    const w = fakeWorker(h, 'r2', 'h1', async () => {
      // A real stack: it runs in this process, so its frames name files under the install's root.
      throw fail('CHECKSUM_MISMATCH', `image checksum mismatch: expected sha256 ${expected}, got ${got} (in ${root}apps/worker/src/steps.ts)`);
    });
    try {
      const r = await h.fetch('/v1/vms', { method: 'POST', json: { vm_name: 'dash-sum', region_name: 'r2', instance_type: 'tiny', image: 'v0.76.0' } });
      expect(r.status).toBe(202);
      const { id } = (await r.json()) as { id: string };
      const queue = h.queues.get('ops.r2.h1');
      await expect.poll(async () => (await queue.getJob(id))?.finishedOn !== undefined, { timeout: 10_000 }).toBe(true);
      // The raw job does hold the paths (so the test would see a leak).
      const raw = await queue.getJob(id);
      expect(JSON.stringify(raw?.stacktrace)).toContain(root);
      const cookie = await sessionCookie(TOKENS.admin);
      const detail = (await (await board(`/api/queues/ops.r2.h1/${id}`, cookie)).json()) as {
        job: { failedReason: string; stacktrace: string[]; data: { image: { sha256: string } } };
      };
      const list = await (await board('/api/queues?activeQueue=ops.r2.h1&status=failed&page=1&jobsPerPage=50', cookie)).text();
      for (const text of [JSON.stringify(detail), list]) {
        expect(text).not.toContain(root);
        expect(text).not.toContain(root.replace(/\/$/, ''));
      }
      expect(detail.job.stacktrace.join('\n')).toMatch(/ at apps\/api\/test\/unit\/dashboard\.test\.ts:\d+:\d+/);
      expect(detail.job.failedReason).toContain(`expected sha256 ${expected}, got ${got} (in apps/worker/src/steps.ts)`);
      expect(detail.job.data.image.sha256).toBe('a'.repeat(64));
    } finally {
      await w.close();
    }
  });

  it('stripInstallPaths makes any install’s paths relative and leaves URLs alone', () => {
    expect(stripInstallPaths('    at run (/srv/provisioner/apps/worker/src/steps.ts:12:3)')).toBe('    at run (apps/worker/src/steps.ts:12:3)');
    expect(stripInstallPaths('    at file:///app/node_modules/bullmq/dist/esm/classes/worker.js:1:2')).toBe(
      '    at node_modules/bullmq/dist/esm/classes/worker.js:1:2',
    );
    expect(stripInstallPaths('curl https://img.example/apps/a.qcow2 failed')).toBe('curl https://img.example/apps/a.qcow2 failed');
    expect(stripInstallPaths('    at node:internal/process/task_queues:95:5')).toBe('    at node:internal/process/task_queues:95:5');
  });
});

describe('redact', () => {
  it('hides user-data, secret-like fields and URL credentials and queries, keeps the rest', () => {
    expect(
      redact({
        kind: 'create',
        user_data_enc: 'v1:abc',
        user_data: 'x',
        tags: { owner: 'alice' },
        webhook: { url: 'https://hooks.example/x?sig=1', secret: 's3', token: 't' },
        image: { url: 'https://u:p@img.example/a.qcow2' },
        note: `seed ${'QUJD'.repeat(20)}`,
        none: null,
        list: [{ password: 'p' }],
      }),
    ).toEqual({
      kind: 'create',
      user_data_enc: '[redacted]',
      user_data: '[redacted]',
      tags: { owner: 'alice' },
      webhook: { url: 'https://hooks.example/x?[redacted]', secret: '[redacted]', token: '[redacted]' },
      image: { url: 'https://[redacted]@img.example/a.qcow2' },
      note: 'seed [redacted base64]',
      none: null,
      list: [{ password: '[redacted]' }],
    });
  });
});

describe('dashboard: host maintenance', () => {
  it('shows a cordoned host’s state (who, when, why) in its queue’s description, on both boards, until uncordoned', async () => {
    const descriptions = async (cookie: string) => {
      const body = (await (await board('/api/queues', cookie)).json()) as { queues: Array<{ displayName: string; description: string }> };
      return Object.fromEntries(body.queues.map((q) => [q.displayName, q.description]));
    };
    expect((await h.fetch('/v1/regions/r1/hosts/h2/cordon', { method: 'POST', json: { reason: 'disk swap' } })).status).toBe(200);
    for (const token of [TOKENS.admin, TOKENS.read]) {
      const d = await descriptions(await sessionCookie(token));
      expect(d['r1 / h2']).toMatch(/^CORDONED \(no new VMs\) by admin at \S+: disk swap — operations on the VMs of host h2 in region r1$/);
      expect(d['r1 / h1']).toBe('operations on the VMs of host h1 in region r1');
    }
    await h.fetch('/v1/regions/r1/hosts/h2/uncordon', { method: 'POST' });
    expect((await descriptions(await sessionCookie(TOKENS.admin)))['r1 / h2']).toBe('operations on the VMs of host h2 in region r1');
  });
});

describe('dashboard: webhook deliveries', () => {
  it('shows the delivery queue by endpoint id (never its URL) in the webhook queue’s description, to admins only', async () => {
    const secretUrl = 'https://chat.example/hooks/T0SECRETPATH';
    const reg = await h.fetch('/v1/webhooks', { method: 'POST', json: { url: secretUrl, events: ['job.succeeded'] } });
    const endpoint = (await reg.json()) as { id: string };
    const create = await h.fetch('/v1/vms', { method: 'POST', json: { vm_name: 'boardhook', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' } });
    const job = (await create.json()) as { id: string };
    const view = (await (await h.fetch(`/v1/jobs/${job.id}`)).json()) as Parameters<WebhookStore['enqueueJobEvent']>[1];
    const hooks = new WebhookStore(h.redis, h.config, h.queues.get(WEBHOOK_QUEUE));
    const [deliveryId] = await hooks.enqueueJobEvent('job.succeeded', { ...view, state: 'succeeded' }, null);
    await hooks.recordAttempt(job.id, {
      delivery_id: 'msg_y',
      type: 'job.succeeded',
      endpoint_id: endpoint.id,
      url: secretUrl,
      attempt: 1,
      redelivery: false,
      at: new Date().toISOString(),
      status_code: 502,
      duration_ms: 3,
      error: 'HTTP 502',
      outcome: 'retrying',
    });
    const text = await (await board('/api/queues', await sessionCookie(TOKENS.admin))).text();
    const q = (JSON.parse(text) as { queues: Array<{ name: string; displayName: string; description: string }> }).queues.find(
      (x) => x.displayName === 'webhook deliveries',
    );
    expect(q?.description).toMatch(new RegExp(`^BY ENDPOINT: .*${endpoint.id}: 1 queued, 0 retrying, 0% of 1 attempts delivered, last error HTTP 502 at \\S+`));
    expect(text).not.toContain('T0SECRETPATH');
    // Endpoint deliveries are the admins': a read-only session's board has no webhook queue, listed or asked for by name.
    const reader = await sessionCookie(TOKENS.read);
    const readList = (await (await board('/api/queues', reader)).json()) as { queues: Array<{ displayName: string }> };
    expect(readList.queues.length).toBeGreaterThan(0);
    expect(readList.queues.map((x) => x.displayName)).not.toContain('webhook deliveries');
    const jobPath = `/api/queues/${encodeURIComponent(String(q?.name))}/${deliveryId}`;
    const asAdmin = (await (await board(jobPath, await sessionCookie(TOKENS.admin))).json()) as { job: { id: string; data: { endpoint_id: string } } };
    expect(asAdmin.job).toMatchObject({ id: deliveryId, data: { endpoint_id: endpoint.id } });
    expect((await board(jobPath, reader)).status).toBe(404);
    await h.fetch(`/v1/webhooks/${endpoint.id}`, { method: 'DELETE' });
  });
});
