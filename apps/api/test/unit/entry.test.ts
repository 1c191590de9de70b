/**
 * What a browser asks for first (src/entry.ts): `GET /` sends a person to the VM page while API clients keep
 * their JSON answer, and `/favicon.ico` is an icon, not a 401.
 */
import { describe, expect, it } from 'vitest';
import { FAVICON, wantsHtml } from '../../src/entry.ts';
import { useHarness } from './harness.ts';

const h = useHarness();

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

describe('GET /', () => {
  it('redirects a browser to /ui, without a token', async () => {
    const r = await fetch(`${h.url}/`, { headers: { accept: BROWSER_ACCEPT }, redirect: 'manual' });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/ui');
    expect(r.headers.get('vary')).toMatch(/Accept/i);
    // Followed, it lands on the VM page's sign-in form.
    const page = await fetch(`${h.url}/`, { headers: { accept: BROWSER_ACCEPT } });
    expect(page.url).toBe(`${h.url}/ui/login`);
    expect(await page.text()).toContain('type="password"');
  });

  it('keeps the JSON answer of API clients (curl’s */*, application/json), with or without a token', async () => {
    for (const accept of ['*/*', 'application/json', 'text/html;q=0, application/json']) {
      const anonymous = await fetch(`${h.url}/`, { headers: { accept }, redirect: 'manual' });
      expect(anonymous.status, accept).toBe(401);
      expect(anonymous.headers.get('content-type')).toContain('application/json');
      expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
      const signed = await h.fetch('/', { headers: { accept }, redirect: 'manual' });
      expect(signed.status, accept).toBe(404);
      expect(((await signed.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
  });

  it('wantsHtml reads the Accept header as browsers and clients write it', () => {
    expect(wantsHtml(BROWSER_ACCEPT)).toBe(true);
    expect(wantsHtml('TEXT/HTML')).toBe(true);
    expect(wantsHtml(undefined)).toBe(false);
    expect(wantsHtml('*/*')).toBe(false);
    expect(wantsHtml('text/html;q=0')).toBe(false);
    expect(wantsHtml('application/json, text/plain')).toBe(false);
  });
});

describe('/favicon.ico', () => {
  it('is an icon served by the API without a token', async () => {
    const r = await fetch(`${h.url}/favicon.ico`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('image/x-icon');
    const body = Buffer.from(await r.arrayBuffer());
    expect(body.equals(FAVICON)).toBe(true);
    // An ICO header (reserved 0, type 1 = icon, one image) holding a PNG.
    expect([body.readUInt16LE(0), body.readUInt16LE(2), body.readUInt16LE(4)]).toEqual([0, 1, 1]);
    expect(body.subarray(body.readUInt32LE(18), body.readUInt32LE(18) + 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
    expect((await fetch(`${h.url}/favicon.ico`, { method: 'HEAD' })).status).toBe(200);
  });
});
