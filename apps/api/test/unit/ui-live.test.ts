/**
 * The VM page over HTTP (the in-process API, real Redis, no worker): every /ui answer carries the page's
 * security headers, the job event relay included; the page of a VM whose create has not run shows what
 * the create asked for; …/state renders the live sections with keys that follow the VM; the tag form
 * carries the ETag it was drawn from and a stale one is refused with 412 "changed meanwhile", nothing
 * queued. The same in a real browser: test/e2e/ui.int.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CHANGED_MEANWHILE } from '../../src/ui/pages/tags.ts';
import { TOKENS, useHarness } from './harness.ts';

const h = useHarness();
let cookie = '';

/** A request of the page: the session cookie, this service's Origin (every POST needs it). */
function ui(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('cookie', cookie);
  headers.set('origin', h.url);
  return fetch(`${h.url}${path}`, { redirect: 'manual', ...init, headers });
}

async function form(path: string, fields: Record<string, string>): Promise<Response> {
  return ui(path, { method: 'POST', body: new URLSearchParams(fields) });
}

/** The value of a hidden field in a page's form. */
function hidden(page: string, name: string, scope = page): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(scope);
  if (!m?.[1]) throw new Error(`no ${name} field`);
  return m[1].replaceAll('&quot;', '"');
}

/** The tag form of a VM page (its CSRF token, Idempotency-Key and ETag). */
function tagForm(page: string): string {
  const m = /<form method="post" action="[^"]*\/tags" data-tags-form>[\s\S]*?<\/form>/.exec(page);
  if (!m) throw new Error('no tag form');
  return m[0];
}

const PAGE_HEADERS = {
  'content-security-policy': expect.stringContaining("default-src 'self'; script-src 'self'"),
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

function headersOf(r: Response): Record<string, string> {
  return Object.fromEntries(Object.keys(PAGE_HEADERS).map((k) => [k, r.headers.get(k) ?? '']));
}

beforeAll(async () => {
  const r = await fetch(`${h.url}/ui/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { origin: h.url },
    body: new URLSearchParams({ token: TOKENS.write }),
  });
  expect(r.status).toBe(303);
  cookie = (r.headers.get('set-cookie') ?? '').split(';')[0] as string;
  expect(cookie).toMatch(/=.+/);
});

describe('the page’s security headers', () => {
  it('the job event relay carries them, as pages, redirects and assets do', async () => {
    await h.writeInventory('r1', 'h1', [{ name: 'hdr-vm', state: 'running', tags: { owner: 'ux' } }]);
    const queued = await h.fetch('/v1/vms/r1/hdr-vm/stop', { method: 'POST' });
    const job = ((await queued.json()) as { id: string }).id;
    const ac = new AbortController();
    const relay = await ui(`/ui/jobs/${job}/events`, { signal: ac.signal });
    expect(relay.status).toBe(200);
    expect(relay.headers.get('content-type')).toContain('text/event-stream');
    expect(headersOf(relay)).toEqual(PAGE_HEADERS);
    ac.abort();
    await relay.body?.cancel().catch(() => undefined);

    expect(headersOf(await ui('/ui/vms/r1/hdr-vm'))).toEqual(PAGE_HEADERS);
    expect(headersOf(await ui('/ui/vms/r1/hdr-vm/state'))).toEqual(PAGE_HEADERS);
    expect(headersOf(await fetch(`${h.url}/ui`, { redirect: 'manual' }))).toEqual(PAGE_HEADERS);
    // The assets keep their own Cache-Control (revalidated, not no-store), with the rest.
    const js = await fetch(`${h.url}/ui/assets/app.js`);
    expect(headersOf(js)).toEqual({ ...PAGE_HEADERS, 'cache-control': 'no-cache' });
  });
});

describe('the VM page follows the VM', () => {
  it('right after a create (not run yet) shows the requested type, size, image, owner and tags', async () => {
    const c = await form('/ui/vms', {
      csrf: await csrf(),
      idem: 'ui-create-1',
      region: 'r1',
      vm_name: 'ux-new',
      instance_type: 'tiny',
      image: 'v0.76.0',
      tags: 'owner=ux\nproject=demo',
      user_data: '',
    });
    expect(c.status).toBe(303);
    const page = await (await ui(new URL(c.headers.get('location') ?? '', h.url).pathname)).text();
    expect(page).toContain('<dd data-vm-size>1 vCPU · 512 MiB</dd>');
    expect(page).toContain('<dd data-vm-image>v0.76.0</dd>');
    expect(page).toContain('<dd data-vm-type>tiny</dd>');
    expect(page).toContain('<dd data-vm-owner>ux</dd>');
    expect(page).toContain('<span class="tag">project=demo</span>');
    expect(page).not.toContain('No tags.');
    expect(tagForm(page)).toContain('owner=ux\nproject=demo</textarea>');
  });

  it('…/state renders each live section with a key that changes when the VM does, escaped as the page is', async () => {
    await h.writeInventory('r1', 'h2', [{ name: 'ux-live', state: 'running', tags: { owner: 'ux', note: '<script>x</script>' } }]);
    const read = async () => (await (await ui('/ui/vms/r1/ux-live/state')).json()) as { state: string; etag: string; sections: Record<string, string> };
    const first = await read();
    expect(Object.keys(first.sections)).toEqual(['head', 'details', 'actions', 'tags', 'snapshots', 'jobs']);
    expect(first.state).toBe('running');
    expect(first.sections.actions).toContain('data-action="stop"');
    expect(first.sections.tags).toContain('note=&lt;script&gt;x&lt;/script&gt;');
    expect(first.sections.tags).not.toContain('<script>');
    const key = (s: string | undefined) => /data-key="([^"]+)"/.exec(s ?? '')?.[1];
    const again = await read();
    // Nothing changed: the same keys (the forms' Idempotency-Keys, new at each drawing, are not in them).
    for (const name of Object.keys(first.sections)) expect(key(again.sections[name]), name).toBe(key(first.sections[name]));

    await h.writeInventory('r1', 'h2', [{ name: 'ux-live', state: 'shut off', tags: { owner: 'ux', note: '<script>x</script>' } }]);
    const stopped = await read();
    expect(stopped.state).toBe('shut off');
    expect(key(stopped.sections.actions)).not.toBe(key(first.sections.actions));
    expect(stopped.sections.actions).toContain('data-action="start"');
    expect(stopped.sections.actions).not.toContain('data-action="stop"');
    expect(key(stopped.sections.head)).not.toBe(key(first.sections.head));
    expect(stopped.etag).not.toBe(first.etag);

    await h.writeInventory('r1', 'h2', []);
    const gone = await read();
    expect(gone.state).toBe('deleted');
    expect(gone.sections.head).toContain('>deleted</span>');
    expect(gone.sections.actions).not.toContain('data-action');
  });

  it('a tag form drawn before a change is refused (412, changed meanwhile), its lines kept, nothing queued; a fresh one saves', async () => {
    await h.writeInventory('r1', 'h2', [{ name: 'ux-tags', state: 'running', tags: { owner: 'ux', project: 'demo' } }]);
    const drawn = tagForm(await (await ui('/ui/vms/r1/ux-tags')).text());
    // Someone else's edit runs meanwhile (the worker wrote the inventory after it).
    await h.writeInventory('r1', 'h2', [{ name: 'ux-tags', state: 'running', tags: { owner: 'ux', project: 'other' } }]);
    const jobs = await h.jobCount();
    const fields = { csrf: hidden(drawn, 'csrf'), idem: hidden(drawn, 'idem'), etag: hidden(drawn, 'etag'), tags: 'owner=ux\nproject=mine' };
    const stale = await form('/ui/vms/r1/ux-tags/tags', fields);
    expect(stale.status).toBe(412);
    const page = await stale.text();
    expect(page).toContain(CHANGED_MEANWHILE.slice(0, 40));
    expect(page).toContain('<span class="tag">project=other</span>');
    expect(tagForm(page)).toContain('owner=ux\nproject=mine</textarea>');
    expect(await h.jobCount()).toBe(jobs);
    // A form with no ETag at all (an older page) is stale too, never a blind write.
    const { etag: _drop, ...noEtag } = fields;
    expect((await form('/ui/vms/r1/ux-tags/tags', { ...noEtag, idem: 'ui-no-etag' })).status).toBe(412);
    expect(await h.jobCount()).toBe(jobs);

    // The refused page's form carries the current ETag: saving it again is a deliberate replace.
    const again = tagForm(page);
    const saved = await form('/ui/vms/r1/ux-tags/tags', {
      csrf: hidden(again, 'csrf'),
      idem: hidden(again, 'idem'),
      etag: hidden(again, 'etag'),
      tags: 'owner=ux\nproject=mine',
    });
    expect(saved.status).toBe(303);
    expect(await h.jobCount()).toBe(jobs + 1);
  });
});

/** The session's CSRF token, from any page's form. */
async function csrf(): Promise<string> {
  return hidden(await (await ui('/ui/vms/new')).text(), 'csrf');
}
