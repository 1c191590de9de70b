/**
 * The VM page (/ui) with the shared real guest (ensureGuest), in a real browser: its page shows the
 * guest's address and readiness, and its console log page shows what the guest wrote to its serial
 * console (cloud-init's "finished at" line), as text. Boots no guest of its own.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, offlineContext } from '../support/browser.ts';
import { ensureGuest } from '../support/guest.ts';

const g = inject('guest');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = process.env.UI_SCREENSHOTS === '1' ? join(root, 'docs/img') : join(root, 'test-artifacts');
let browser: Browser;
const external: string[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
  mkdirSync(SHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
});

describe('the real guest on the VM page', () => {
  it('shows its address and readiness, and its console log as text', async () => {
    await ensureGuest(g);
    const context = await offlineContext(browser, external, { width: 1000, height: 760 });
    const page = await context.newPage();
    await page.goto(`${g.url}/ui/login`);
    await page.fill('input[name="token"]', g.token);
    await Promise.all([page.waitForURL(/\/ui\/vms$/), page.click('button[type="submit"]')]);
    await page.goto(`${g.url}/ui/vms/${g.region}/${g.vm}`);
    const api = (await (await fetch(`${g.url}/v1/vms/${g.region}/${g.vm}`, { headers: { authorization: `Bearer ${g.token}` } })).json()) as { ip: string };
    expect(api.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    await expect(page.locator('[data-vm-ip]').textContent()).resolves.toBe(api.ip);
    await expect(page.locator('dd', { hasText: /^ready$/ }).count()).resolves.toBe(1);
    await page.screenshot({ path: join(SHOTS, 'ui-guest.png'), fullPage: true });

    await Promise.all([page.waitForURL(/\/console$/), page.click('a[data-action="console"]')]);
    const text = (await page.locator('pre[data-console]').textContent()) ?? '';
    expect(text).toMatch(/Cloud-init v\. \S+ finished at /);
    expect(external).toEqual([]);
    await context.close();
  });
});
