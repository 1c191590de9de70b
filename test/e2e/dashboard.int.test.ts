/**
 * The queue dashboard and the API reference in a real browser (Debian's chromium driven by
 * playwright-core), against the real API and worker processes: refused without signing in, a read
 * token signs in through the form, finds the job this test made and opens it (user-data nowhere on
 * the page; the board's API refuses it a retry), an admin retries it from its page, signing out ends
 * the session, and /docs renders with every request to a host other than 127.0.0.1 blocked.
 * Screenshots go to test-artifacts/.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, offlineContext } from '../support/browser.ts';
import { makeHypervisor, uniqueName } from '../support/host.ts';
import { freePort, type Stack, startStack, waitJob } from '../support/stack.ts';

const ARTIFACTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../test-artifacts');

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
const image = uniqueName('gone');
const vmName = uniqueName('dash');
/** Text that must never show in the dashboard: the user-data of the job made here. */
const marker = `dashboard-secret-${Math.random().toString(36).slice(2)}`;
const userData = `#cloud-config\nwrite_files:\n  - path: /etc/marker\n    content: ${marker}\n`;

let stack: Stack;
let browser: Browser;
let context: BrowserContext;
/** The job the tests look for: a create that failed (its image cannot be downloaded), with user-data. */
let job: { id: string };
/** Requests the pages tried to make to any host but the service. */
const external: string[] = [];

beforeAll(async () => {
  // An image whose download is refused at once: the create fails fast, after its few retries, and
  // leaves nothing on the host.
  const closed = await freePort();
  stack = await startStack({ host, images: { [image]: { url: `http://127.0.0.1:${closed}/missing.qcow2` } } });
  browser = await launchBrowser();
  context = await offlineContext(browser, external);
  mkdirSync(ARTIFACTS, { recursive: true });
  const r = await stack.fetch('/v1/vms', {
    method: 'POST',
    body: JSON.stringify({ vm_name: vmName, region_name: 'r1', instance_type: 'tiny', image, user_data: Buffer.from(userData).toString('base64') }),
  });
  expect(r.status).toBe(202);
  job = (await r.json()) as { id: string };
  expect((await waitJob(stack, job.id, 60_000)).state).toBe('failed');
});

afterAll(async () => {
  await browser?.close();
  await hv.undefine(vmName).catch(() => undefined);
  await stack?.stop();
  await hv.close();
});

/** Whether the element shows up within a moment (a tooltip after hovering). */
const shows = (l: Locator) =>
  l.waitFor({ timeout: 1500 }).then(
    () => true,
    () => false,
  );

describe('queue dashboard in a browser', () => {
  it('refuses without signing in: the page sends to the sign-in form, the board API answers 401', async () => {
    const page = await context.newPage();
    const res = await page.goto(`${stack.url}/admin/queues/`);
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    expect(res?.status()).toBe(200);
    await expect(page.locator('form input[name="token"]').count()).resolves.toBe(1);
    const api = await page.request.get(`${stack.url}/admin/queues/api/queues`);
    expect(api.status()).toBe(401);
    await page.close();
  });

  it('a read token signs in through the form, finds the job, opens it; no user-data on the page', async () => {
    const page = await context.newPage();
    await page.goto(`${stack.url}/admin/login`);
    await page.fill('input[name="token"]', stack.tokens.read);
    await Promise.all([page.waitForURL(/\/admin\/queues\/$/), page.click('button[type="submit"]')]);
    expect(page.url()).not.toContain(stack.tokens.read);
    const cookies = await context.cookies(`${stack.url}/admin/queues/`);
    const session = cookies.find((c) => c.name === 'provisioner_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/admin' });
    expect(session?.value).not.toContain(stack.tokens.read);

    // The overview shows the host's queue (grouped region / host) with its failed job; its list holds ours.
    await page.getByText('r1 / h1').first().waitFor();
    await page.goto(`${stack.url}/admin/queues/queue/ops.r1.h1?status=failed`);
    const link = page.getByText(job.id).first();
    await link.waitFor({ timeout: 15_000 });
    await link.click();
    await page.waitForURL(new RegExp(`/queue/ops\\.r1\\.h1/${job.id}`));
    // Its detail: the failure reason, the steps it logged, and its data with user-data redacted.
    await page.getByText('DOWNLOAD_FAILED').first().waitFor();
    await page.getByRole('tab', { name: 'Logs' }).click();
    await page.getByText('step fetch-image started').first().waitFor({ timeout: 15_000 });
    await page.getByRole('tab', { name: 'Data' }).click();
    const redacted = page.getByText('[redacted]').first();
    await redacted.waitFor({ timeout: 15_000 });
    await redacted.scrollIntoViewIfNeeded();
    const text = await page.content();
    expect(text).toContain(vmName);
    const stored = JSON.parse((await stack.redis.hget(`${stack.prefix}:ops.r1.h1:${job.id}`, 'data')) ?? '{}') as { user_data_enc?: string };
    const cipher = stored.user_data_enc ?? '';
    expect(cipher.length).toBeGreaterThan(16);
    for (const secret of [marker, Buffer.from(userData).toString('base64'), cipher, stack.tokens.read]) expect(text).not.toContain(secret);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    // Read-only, whatever the page shows: the board's API refuses this session a retry.
    const status = await page.evaluate(
      async (url) => (await fetch(url, { method: 'PUT' })).status,
      `${stack.url}/admin/queues/api/queues/ops.r1.h1/${job.id}/retry`,
    );
    expect(status).toBe(403);

    // Signing out from the board's menu ends the session: the board sends to the sign-in form again.
    await page.locator('ul[class*="actions"] > li').last().locator('button').click();
    await Promise.all([page.waitForURL(/\/admin\/login$/), page.getByText('Sign out', { exact: true }).click()]);
    await page.goto(`${stack.url}/admin/queues/`);
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    await page.close();
  });
});

describe('admin in the browser', () => {
  it('an admin token gets the actions: retrying the failed job from its page runs it again', async () => {
    const page = await context.newPage();
    await page.goto(`${stack.url}/admin/login`);
    await page.fill('input[name="token"]', stack.tokens.admin);
    await Promise.all([page.waitForURL(/\/admin\/queues\/$/), page.click('button[type="submit"]')]);
    await page.goto(`${stack.url}/admin/queues/queue/ops.r1.h1/${job.id}`);
    await page.getByText('DOWNLOAD_FAILED').first().waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-admin.png'), fullPage: true });
    const before = (await (await stack.fetch(`/v1/jobs/${job.id}`)).json()) as { started_at: string };
    // The job card's action buttons carry only an icon and a tooltip: find the one whose tooltip says Retry.
    const card = page
      .locator('div')
      .filter({ has: page.getByText(job.id, { exact: true }) })
      .filter({ has: page.locator('button') })
      .last();
    const buttons = card.locator('button');
    let retried = false;
    for (let i = 0; i < (await buttons.count()) && !retried; i++) {
      await buttons.nth(i).hover();
      if (await shows(page.getByText('Retry', { exact: true }))) {
        await buttons.nth(i).click();
        retried = true;
      }
    }
    expect(retried).toBe(true);
    // The board asks first.
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    // The worker takes the job again (its image is still missing, so it fails again).
    await expect
      .poll(async () => ((await (await stack.fetch(`/v1/jobs/${job.id}`)).json()) as { started_at: string }).started_at, { timeout: 30_000 })
      .not.toBe(before.started_at);
    await page.close();
  });
});

describe('/docs in the same browser, offline', () => {
  it('renders the reference from the service alone, with the routes named', async () => {
    const page = await context.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (req) => failed.push(req.url()));
    await page.goto(`${stack.url}/docs`);
    await page.getByText('Provisioner API', { exact: false }).first().waitFor({ timeout: 30_000 });
    for (const path of ['/v1/vms', '/v1/vms/{region}/{name}/stop', '/v1/jobs/{id}/events', '/v1/create']) {
      await page.getByText(path, { exact: true }).first().waitFor({ timeout: 10_000 });
    }
    await expect(page.getByText('legacy', { exact: true }).count()).resolves.toBeGreaterThan(0);
    await page.screenshot({ path: join(ARTIFACTS, 'docs.png') });
    expect(failed).toEqual([]);
    expect(external).toEqual([]);
    await page.close();
  });
});
