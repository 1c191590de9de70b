/**
 * A real browser for tests: Debian's chromium (CHROMIUM_PATH overrides) driven by playwright-core,
 * headless, with every request to a host other than 127.0.0.1 blocked and recorded (the pages must
 * work from the service alone).
 */
import { type Browser, type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** A new context whose requests to anything but 127.0.0.1 (and data: URLs) are aborted and pushed to `external`. */
export async function offlineContext(browser: Browser, external: string[], viewport = { width: 1400, height: 1000 }): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.protocol === 'data:') return route.continue();
    external.push(url.href);
    return route.abort('blockedbyclient');
  });
  return context;
}
