/**
 * The VM page (/ui) in a real browser (Debian's chromium driven by playwright-core) against the real API
 * and worker processes, Redis and the loopback host: sign in, create a VM from the form and watch its
 * progress bar reach 100 %, a tag holding `<script>` shown as text (and not run), stop it and see its
 * state change without a reload, a read-only token that sees no buttons and whose POSTs are refused,
 * forged POSTs (no or wrong CSRF token, another Origin) refused with 403 and nothing queued, an
 * owner-bound token that sees its VMs only, the list at phone width, and delete with confirmation. The page
 * follows the VM without a reload (a new VM's spec and tags at once, the actions after a stop, deleted),
 * and a tag form drawn before another change is refused (412), never saved over it.
 * Screenshots go to test-artifacts/ (to docs/img/ with UI_SCREENSHOTS=1, for README.md and docs/ui.md).
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, offlineContext } from '../support/browser.ts';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = process.env.UI_SCREENSHOTS === '1' ? join(root, 'docs/img') : join(root, 'test-artifacts');

const host = inject('loopbackHost');
const hv = makeHypervisor(host);
const image = uniqueName('blank');
const vm = uniqueName('ui');
const bobVm = uniqueName('bob');
const uxVm = uniqueName('ux');
const ownerToken = `owner-${Math.random().toString(36).slice(2)}-${Date.now()}`;
const limitedToken = `limited-${Math.random().toString(36).slice(2)}-${Date.now()}`;
/** Shown as text wherever tags are; if it ever ran, it would set window.__pwned. */
const SCRIPT_TAG = '<script>window.__pwned=1</script>';

let stack: Stack;
let images: ImageServer;
let browser: Browser;
let admin: BrowserContext;
const external: string[] = [];

async function signIn(context: BrowserContext, token: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${stack.url}/ui/login`);
  await page.fill('input[name="token"]', token);
  await Promise.all([page.waitForURL(/\/ui\/vms$/), page.click('button[type="submit"]')]);
  return page;
}

/** The job ids of the VM, newest first (what the tests check stays the same after a refused POST). */
async function jobIds(name: string): Promise<string[]> {
  const r = await stack.fetch(`/v1/jobs?region=r1&vm_name=${name}`);
  return ((await r.json()) as { jobs: Array<{ id: string }> }).jobs.map((j) => j.id);
}

/** Waits for the page's job panel to say the job ended, and returns what it shows. */
async function jobEnds(page: Page) {
  const panel = page.locator('[data-job]');
  await page.locator(['succeeded', 'failed', 'canceled'].map((st) => `[data-job][data-state="${st}"]`).join(', ')).waitFor({ timeout: 90_000 });
  return {
    state: await panel.getAttribute('data-state'),
    progress: await panel.locator('progress').evaluate((p) => (p as unknown as { value: number }).value),
    text: await panel.locator('[data-job-progress]').textContent(),
    steps: await panel.locator('.steps li').allTextContents(),
  };
}

beforeAll(async () => {
  images = await startImageServer(makeImages([{ name: 'blank.qcow2', sizeMiB: 64 }]));
  stack = await startStack({
    host,
    images: { [image]: { url: images.url('blank.qcow2') } },
    moreTokens: [
      { name: 'alice', token: ownerToken, scopes: ['read', 'write'], owner: 'alice' },
      { name: 'limited', token: limitedToken, scopes: ['read'], rate_limit: { requests: 3, per_seconds: 600 } },
    ],
  });
  browser = await launchBrowser();
  admin = await offlineContext(browser, external, { width: 1000, height: 760 });
  mkdirSync(SHOTS, { recursive: true });
  // Another owner's VM, which alice's token must not see.
  const r = await stack.fetch('/v1/vms', {
    method: 'POST',
    body: JSON.stringify({ vm_name: bobVm, region_name: 'r1', instance_type: 'tiny', image, tags: { owner: 'bob' } }),
  });
  expect(r.status).toBe(202);
  expect((await waitJob(stack, ((await r.json()) as { id: string }).id, 90_000)).state).toBe('succeeded');
});

afterAll(async () => {
  await browser?.close();
  for (const n of [vm, bobVm, uxVm]) await hv.undefine(n).catch(() => undefined);
  await stack?.stop();
  await images?.close();
  await hv.close();
});

describe('the VM page in a browser', () => {
  it('sends to the sign-in form without a session; signing in sets its own strict cookie; pages carry a strict CSP', async () => {
    for (const path of ['/ui', '/ui/']) expect((await fetch(`${stack.url}${path}`, { redirect: 'manual' })).headers.get('location'), path).toBe('/ui/vms');
    const page = await admin.newPage();
    await page.goto(`${stack.url}/ui/vms`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await page.fill('input[name="token"]', 'not-a-token');
    await page.click('button[type="submit"]');
    await page.getByText('Invalid token.').waitFor();
    await page.close();

    const signed = await signIn(admin, stack.tokens.admin);
    expect(signed.url()).not.toContain(stack.tokens.admin);
    const cookie = (await admin.cookies(`${stack.url}/ui/vms`)).find((c) => c.name === 'provisioner_ui');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/ui', secure: false });
    expect(cookie?.value).not.toContain(stack.tokens.admin);
    // Not a session of the queue dashboard.
    expect((await admin.cookies(`${stack.url}/admin/queues/`)).find((c) => c.name === 'provisioner_ui')).toBeUndefined();
    const res = await signed.request.get(`${stack.url}/ui/vms`);
    const csp = res.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers()['cache-control']).toBe('no-store');
    // bob's VM is listed for the admin token.
    await signed.locator(`tr[data-vm="${bobVm}"]`).waitFor();
    await signed.close();
  });

  it('creates a VM from the form (the region’s types and images listed); its progress bar reaches 100 %', async () => {
    const page = await admin.newPage();
    await page.goto(`${stack.url}/ui/vms/new`);
    expect(await page.locator('#instance_type option').allTextContents()).toEqual([
      expect.stringMatching(/^tiny — 1 vCPU, 64 MiB/),
      expect.stringMatching(/^small — /),
    ]);
    expect(await page.locator('#image option').allTextContents()).toContain(image);
    await page.fill('#vm_name', vm);
    await page.selectOption('#instance_type', 'tiny');
    await page.selectOption('#image', image);
    await page.fill('#tags', `owner=alice\nnote=${SCRIPT_TAG}`);
    await Promise.all([page.waitForURL(new RegExp(`/ui/vms/r1/${vm}\\?job=job_`)), page.click('form[action="/ui/vms"] button[type="submit"]')]);
    const end = await jobEnds(page);
    expect(end).toMatchObject({ state: 'succeeded', progress: 100, text: '100%' });
    // The steps came through the event stream as the job ran.
    expect(end.steps.length).toBeGreaterThan(2);
    expect(end.steps.join(' ')).toContain('fetch-image');
    await page.close();
  });

  it('lands, after a create from the form, on a page showing the VM’s spec, image, owner and tags, which follows it; a stale tag form is refused and wipes nothing', async () => {
    const page = await admin.newPage();
    await page.goto(`${stack.url}/ui/vms/new`);
    await page.fill('#vm_name', uxVm);
    await page.selectOption('#instance_type', 'tiny');
    await page.selectOption('#image', image);
    await page.fill('#tags', 'owner=ux\nproject=demo');
    await Promise.all([page.waitForURL(new RegExp(`/ui/vms/r1/${uxVm}\\?job=job_`)), page.click('form[action="/ui/vms"] button[type="submit"]')]);
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    // At once, before the create ran: what it asked for, not blanks.
    const shown = async () => ({
      size: await page.locator('[data-vm-size]').textContent(),
      type: await page.locator('[data-vm-type]').textContent(),
      image: await page.locator('[data-vm-image]').textContent(),
      owner: await page.locator('[data-vm-owner]').textContent(),
      tags: await page.locator('[data-live="tags"] .tag').allTextContents(),
      editor: await page.locator('#tags').inputValue(),
    });
    const expected = { size: '1 vCPU · 64 MiB', type: 'tiny', image, owner: 'ux', tags: ['owner=ux', 'project=demo'], editor: 'owner=ux\nproject=demo' };
    expect(await shown()).toEqual(expected);
    expect(await page.getByText('No tags.').count()).toBe(0);
    expect((await jobEnds(page)).state).toBe('succeeded');
    // It follows the VM: running without a reload, its details and tags still there.
    await expect.poll(() => page.locator('[data-vm-state]').textContent(), { timeout: 60_000 }).toBe('running');
    await expect.poll(() => page.locator('button[data-action="stop"]').count(), { timeout: 30_000 }).toBe(1);
    expect(await shown()).toEqual(expected);
    expect(navigations).toEqual([]);

    // This page's tag form is being edited (emptied, as the blank page of before invited) when another
    // writer's edit runs: the form is left as it is and says its save would be refused.
    await page.fill('#tags', '');
    const read = await stack.fetch(`/v1/vms/r1/${uxVm}`);
    const other = await stack.fetch(`/v1/vms/r1/${uxVm}/tags`, {
      method: 'PUT',
      headers: { 'if-match': read.headers.get('etag') ?? '' },
      body: JSON.stringify({ tags: { owner: 'ux', project: 'demo', stage: 'b' } }),
    });
    expect(other.status).toBe(202);
    expect((await waitJob(stack, ((await other.json()) as { id: string }).id, 60_000)).state).toBe('succeeded');
    await expect.poll(() => page.locator('[data-tags-note]').textContent(), { timeout: 30_000 }).toContain('saving it will be refused');
    expect(await page.locator('#tags').inputValue()).toBe('');

    // Saving it anyway: 412, "changed meanwhile", the tags as they are now, and nothing wiped.
    const [answer] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/tags') && r.request().method() === 'POST'),
      page.click('form[action$="/tags"] button'),
    ]);
    expect(answer.status()).toBe(412);
    await page.getByText('The tags changed meanwhile').waitFor();
    expect(await page.locator('[data-live="tags"] .tag').allTextContents()).toEqual(['owner=ux', 'project=demo', 'stage=b']);
    expect(((await (await stack.fetch(`/v1/vms/r1/${uxVm}`)).json()) as { tags: Record<string, string> }).tags).toEqual({
      owner: 'ux',
      project: 'demo',
      stage: 'b',
    });
    await page.screenshot({ path: join(SHOTS, 'ui-tags-412.png'), fullPage: true });
    await page.close();
  });

  it('shows a tag holding <script> as text, in the list and on the VM page, and never runs it', async () => {
    const page = await admin.newPage();
    await page.goto(`${stack.url}/ui/vms`);
    const row = page.locator(`tr[data-vm="${vm}"]`);
    await expect(row.locator('.tag', { hasText: SCRIPT_TAG }).count()).resolves.toBe(1);
    await expect(row.locator('td').nth(1).textContent()).resolves.toContain('running');
    await page.screenshot({ path: join(SHOTS, 'ui-list.png') });
    await page.goto(`${stack.url}/ui/vms/r1/${vm}`);
    await expect(page.locator('.tags .tag', { hasText: SCRIPT_TAG }).count()).resolves.toBe(1);
    await expect(page.locator('#tags').inputValue()).resolves.toContain(SCRIPT_TAG);
    expect(await page.content()).toContain('&lt;script&gt;window.__pwned=1&lt;/script&gt;');
    expect(await page.locator('script').count()).toBe(1);
    expect(await page.evaluate(() => (globalThis as Record<string, unknown>).__pwned)).toBeUndefined();
    await page.screenshot({ path: join(SHOTS, 'ui-vm.png'), fullPage: true });
    await page.close();
  });

  it('stop: the state changes from running to shut off on the page without a reload', async () => {
    const page = await admin.newPage();
    await page.goto(`${stack.url}/ui/vms/r1/${vm}`);
    await Promise.all([page.waitForURL(/\?job=job_/), page.click('button[data-action="stop"]')]);
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    const state = page.locator('[data-vm-state]');
    expect(await state.textContent()).toBe('running');
    await expect.poll(() => state.textContent(), { timeout: 60_000 }).toBe('shut off');
    expect((await jobEnds(page)).state).toBe('succeeded');
    expect(navigations).toEqual([]);
    const api = (await (await stack.fetch(`/v1/vms/r1/${vm}`)).json()) as { state: string };
    expect(api.state).toBe('shut off');
    // Stopped: Start is offered, Stop no more, and the recent jobs list the stop as done, all without a reload.
    await expect.poll(() => page.locator('button[data-action="start"]').count(), { timeout: 30_000 }).toBe(1);
    expect(await page.locator('button[data-action="stop"]').count()).toBe(0);
    const stopId = new URL(page.url()).searchParams.get('job') ?? '';
    await expect.poll(() => page.locator(`tr[data-job-row="${stopId}"]`).textContent(), { timeout: 30_000 }).toMatch(/stop\s*succeeded\s*100%/);
    expect(navigations).toEqual([]);
    await page.close();
  });

  it('edits tags, filters the list, and takes, reverts and deletes a snapshot from the VM page', async () => {
    const page = await admin.newPage();
    await page.goto(`${stack.url}/ui/vms/r1/${vm}`);
    await page.fill('#tags', `owner=alice\nnote=${SCRIPT_TAG}\nstage=test`);
    await Promise.all([page.waitForURL(/\?job=job_/), page.click('form[action$="/tags"] button')]);
    expect((await jobEnds(page)).state).toBe('succeeded');
    expect(((await (await stack.fetch(`/v1/vms/r1/${vm}`)).json()) as { tags: Record<string, string> }).tags).toEqual({
      owner: 'alice',
      note: SCRIPT_TAG,
      stage: 'test',
    });
    // A line that is not key=value is refused with its line named, and nothing is queued.
    const before = await jobIds(vm);
    await page.goto(`${stack.url}/ui/vms/r1/${vm}`);
    await page.fill('#tags', 'owner=alice\nno equals sign');
    await page.click('form[action$="/tags"] button');
    await page.getByText('tags: line 2 is not key=value').waitFor();
    expect(await jobIds(vm)).toEqual(before);

    // Filters: state, tag and name.
    await page.goto(`${stack.url}/ui/vms?state=shut+off&tag=stage%3Dtest`);
    expect(await page.locator('tr[data-vm]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-vm')))).toEqual([vm]);
    await page.goto(`${stack.url}/ui/vms?state=running&name=${bobVm.slice(0, 6)}`);
    expect(await page.locator('tr[data-vm]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-vm')))).toEqual([bobVm]);

    // Snapshots: take one, revert to it, delete it.
    await page.goto(`${stack.url}/ui/vms/r1/${vm}`);
    await page.fill('form[action$="/snapshots"] input[name="name"]', 'before');
    await Promise.all([page.waitForURL(/\?job=job_/), page.click('form[action$="/snapshots"] button')]);
    expect((await jobEnds(page)).state).toBe('succeeded');
    await page.goto(`${stack.url}/ui/vms/r1/${vm}`);
    await Promise.all([page.waitForURL(/\?job=job_/), page.click('form[action$="/snapshots/before/revert"] button')]);
    expect((await jobEnds(page)).state).toBe('succeeded');
    await page.goto(`${stack.url}/ui/vms/r1/${vm}`);
    await Promise.all([page.waitForURL(/\?job=job_/), page.click('form[action$="/snapshots/before/delete"] button')]);
    expect((await jobEnds(page)).state).toBe('succeeded');
    expect(((await (await stack.fetch(`/v1/vms/r1/${vm}/snapshots`)).json()) as { snapshots: unknown[] }).snapshots).toEqual([]);
    await page.close();
  });

  it('a read-only token sees no action buttons, and its POSTs (with its own valid CSRF token) are refused', async () => {
    const context = await offlineContext(browser, external);
    const page = await signIn(context, stack.tokens.read);
    await page.goto(`${stack.url}/ui/vms/r1/${vm}`);
    await page.locator('[data-vm-state]').waitFor();
    expect(await page.locator('[data-action]').count()).toBe(0);
    expect(await page.locator('button').allTextContents()).toEqual(['Sign out', 'Sign out everywhere']);
    expect(await page.locator('a', { hasText: 'New VM' }).count()).toBe(0);
    const before = await jobIds(vm);
    const csrf = await page.locator('header input[name="csrf"]').first().inputValue();
    const status = await page.evaluate(async ({ url, csrf }) => (await fetch(url, { method: 'POST', body: new URLSearchParams({ csrf }) })).status, {
      url: `${stack.url}/ui/vms/r1/${vm}/start`,
      csrf,
    });
    expect(status).toBe(403);
    expect((await page.request.get(`${stack.url}/ui/vms/new`)).status()).toBe(403);
    expect(await jobIds(vm)).toEqual(before);
    await context.close();
  });

  it('refuses forged POSTs with 403 and queues nothing: no CSRF token, a wrong one, another Origin', async () => {
    const page = await admin.newPage();
    await page.goto(`${stack.url}/ui/vms/r1/${vm}`);
    const csrf = await page.locator('header input[name="csrf"]').first().inputValue();
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const before = await jobIds(vm);
    const url = `${stack.url}/ui/vms/r1/${vm}/start`;
    const post = (form: Record<string, string>, origin: string | null) =>
      page.request.post(url, { form, headers: origin === null ? {} : { origin }, maxRedirects: 0 }).then((r) => r.status());
    expect(await post({}, stack.url)).toBe(403);
    expect(await post({ csrf: 'x'.repeat(43) }, stack.url)).toBe(403);
    expect(await post({ csrf }, 'http://attacker.example')).toBe(403);
    expect(await post({ csrf }, null)).toBe(403);
    expect(await jobIds(vm)).toEqual(before);
    // Without the session cookie: pages send to the sign-in form, the event relay and state answer 401.
    const bare = (path: string) => fetch(`${stack.url}${path}`, { redirect: 'manual' });
    expect((await bare(`/ui/vms/r1/${vm}`)).headers.get('location')).toBe('/ui/login');
    expect((await bare(`/ui/jobs/${before[0]}/events`)).status).toBe(401);
    expect((await bare(`/ui/vms/r1/${vm}/state`)).status).toBe(401);
    // The same form with the session's token from this origin is accepted (what the refusals above lack).
    expect(await post({ csrf }, stack.url)).toBe(303);
    expect((await jobIds(vm)).length).toBe(before.length + 1);
    // A form sent twice (a double click, a resent page) with its Idempotency-Key queues one job, both answers lead to it.
    const idem = await page.locator('input[name="idem"]').first().inputValue();
    expect(idem).toMatch(/^ui-[0-9a-f-]{36}$/);
    const twice = () => page.request.post(url, { form: { csrf, idem }, headers: { origin: stack.url }, maxRedirects: 0 });
    const [first, second] = [await twice(), await twice()];
    expect([first.status(), second.status()]).toEqual([303, 303]);
    expect(second.headers().location).toBe(first.headers().location);
    expect((await jobIds(vm)).length).toBe(before.length + 2);
    await page.close();
  });

  it('an owner-bound token signs in and sees its owner’s VMs only', async () => {
    const context = await offlineContext(browser, external);
    const page = await signIn(context, ownerToken);
    await page.locator(`tr[data-vm="${vm}"]`).waitFor();
    expect(await page.locator(`tr[data-vm="${bobVm}"]`).count()).toBe(0);
    const res = await page.goto(`${stack.url}/ui/vms/r1/${bobVm}`);
    expect(res?.status()).toBe(404);
    await context.close();
  });

  it('counts a rate-limited token’s pages against its own limit', async () => {
    const context = await offlineContext(browser, external);
    const page = await signIn(context, limitedToken);
    // The sign-in's redirect was the first page; two more pass, the next is refused.
    for (let i = 0; i < 2; i++) expect((await page.request.get(`${stack.url}/ui/vms`)).status()).toBe(200);
    const refused = await page.request.get(`${stack.url}/ui/vms`);
    expect(refused.status()).toBe(429);
    expect(Number(refused.headers()['retry-after'])).toBeGreaterThan(0);
    await context.close();
  });

  it('is usable at phone width: nothing wider than the screen', async () => {
    const context = await offlineContext(browser, external, { width: 390, height: 800 });
    const page = await signIn(context, stack.tokens.admin);
    for (const path of ['/ui/vms', `/ui/vms/r1/${vm}`, '/ui/vms/new']) {
      await page.goto(`${stack.url}${path}`);
      expect(
        await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth),
        path,
      ).toBeLessThanOrEqual(390);
    }
    await context.close();
  });

  it('deletes the VM after its name is typed to confirm; the page then says it is gone', async () => {
    const page = await admin.newPage();
    await page.goto(`${stack.url}/ui/vms/r1/${vm}`);
    await Promise.all([page.waitForURL(/\/delete$/), page.click('a[data-action="delete"]')]);
    await page.fill('#confirm', 'not-the-name');
    await page.click('button.danger');
    await page.getByText('type the VM’s name to delete it').waitFor();
    await page.goto(`${stack.url}/ui/vms/r1/${vm}/delete`);
    await page.fill('#confirm', vm);
    await Promise.all([page.waitForURL(/\?job=job_/), page.click('button.danger')]);
    const end = await jobEnds(page);
    expect(end).toMatchObject({ state: 'succeeded', progress: 100 });
    // A host listing that began before the delete and is written after it can show the VM again until the
    // next one (the workers' inventory_refresh_ms, 60 s here): the page follows the inventory.
    await expect.poll(() => page.locator('[data-vm-state]').textContent(), { timeout: 90_000 }).toBe('deleted');
    // Nothing is offered for a VM that is gone; its delete is still listed.
    expect(await page.locator('[data-live] [data-action]').count()).toBe(0);
    expect(await page.locator('[data-live="jobs"]').textContent()).toContain('delete');
    expect((await stack.fetch(`/v1/vms/r1/${vm}`)).status).toBe(404);
    expect((await hv.listDomains()).map((d) => d.name)).not.toContain(vm);
    expect(external).toEqual([]);
    await page.close();
    // The job, then up to one inventory refresh (60 s) for the page: more than the default 120 s with files side by side.
  }, 240_000);
});
