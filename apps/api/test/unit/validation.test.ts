import { afterEach, describe, expect, it } from 'vitest';
import { HOSTILE_FIELDS } from '../../../../test/support/hostile.ts';
import { decodeUserData } from '../../src/validation.ts';
import { b64, useHarness } from './harness.ts';

const h = useHarness();
afterEach(async () => {
  // Every rejection: nothing queued, no name reserved.
  expect(await h.jobCount()).toBe(0);
  expect(await h.prefixKeys('vmhost:*')).toEqual([]);
  expect(await h.prefixKeys('vmseq:*')).toEqual([]);
});

const good = () => ({ vm_name: 'good-name', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', tags: { owner: 'alice' } });

interface ErrorBody {
  error: { code: string; message: string; request_id: string; details?: unknown };
  detail: string;
}

async function expectRejected(path: string, body: string, statuses: number[], method = 'POST'): Promise<ErrorBody> {
  const r = await h.fetch(path, method === 'GET' ? {} : { method, body, headers: { 'content-type': 'application/json' } });
  expect(statuses, `${method} ${path} → ${r.status}`).toContain(r.status);
  const text = await r.text();
  expect(text).not.toMatch(/at .*\.ts:\d+|node_modules|\bstack\b/);
  const err = JSON.parse(text) as ErrorBody;
  expect(err.error.message).toBeTruthy();
  expect(err.detail).toBe(err.error.message);
  expect(err.error.request_id).toBe(r.headers.get('x-request-id'));
  return err;
}

const HOSTILE_NAMES = [
  '; rm -rf /',
  '$(id)',
  '`id`',
  'a\nb',
  '--force',
  '-rf',
  'A',
  'Amber',
  'a b',
  'a_b',
  'a.b',
  '-a',
  'a-',
  '',
  'ü',
  '../etc',
  'a'.repeat(64),
];

const cases: Array<[label: string, body: Record<string, unknown> | string, statuses: number[], message?: RegExp]> = [
  ...HOSTILE_NAMES.map((n): [string, Record<string, unknown>, number[], RegExp] => [
    `vm_name ${JSON.stringify(n)}`,
    { ...good(), vm_name: n },
    [422],
    /vm_name/,
  ]),
  ['vm_name missing', { region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' }, [422], /vm_name/],
  ['vm_name a number', { ...good(), vm_name: 7 }, [422], /vm_name/],
  ['unknown region', { ...good(), region_name: 'nowhere' }, [422], /unknown region/],
  ['disabled region', { ...good(), region_name: 'off' }, [422], /unknown region/],
  ['hostile region', { ...good(), region_name: '$(id)' }, [422], /unknown region/],
  ['unknown instance type', { ...good(), instance_type: 'gigantic' }, [422], /instance_type/],
  ['instance type of another region', { ...good(), region_name: 'r2', instance_type: 'large' }, [422], /instance_type/],
  ['unknown image', { ...good(), image: 'no-such-image' }, [422], /unknown image/],
  ['image as a path', { ...good(), image: '../../etc/passwd' }, [422], /unknown image/],
  ['image named like an Object property', { ...good(), image: 'constructor' }, [422], /unknown image/],
  ['user_data not base64', { ...good(), user_data: 'not base64 !!!' }, [422], /base64/],
  ['user_data with bad padding', { ...good(), user_data: 'YWJj=' }, [422], /base64/],
  ['user_data base64 with newlines', { ...good(), user_data: 'I2Nsb3Vk\nLWNvbmZpZw==' }, [422], /base64/],
  ['user_data base64 of invalid YAML', { ...good(), user_data: b64('key: [unclosed\n  - : :') }, [422], /^user_data is not one YAML document$/],
  ['user_data base64 of two YAML documents', { ...good(), user_data: b64('a: 1\n---\nb: 2\n') }, [422], /^user_data is not one YAML document$/],
  ['user_data base64 of binary', { ...good(), user_data: Buffer.from([0xff, 0xfe, 0xfd, 0x00]).toString('base64') }, [422], /UTF-8/],
  ['user_data not a string', { ...good(), user_data: { a: 1 } }, [422], /user_data/],
  ['tag value with a newline', { ...good(), tags: { owner: 'a\nb' } }, [422], /tag/],
  // XML 1.0 cannot hold these: the host would refuse the domain's metadata on every attempt.
  ['tag value U+FFFE', { ...good(), tags: { owner: 'a\uFFFEb' } }, [422], /^tags\.owner must be .*XML/],
  ['tag value U+FFFF', { ...good(), tags: { owner: '\uFFFF' } }, [422], /^tags\.owner must be .*XML/],
  ['tag value with a lone surrogate', { ...good(), tags: { note: 'a\uD800b' } }, [422], /^tags\.note must be .*XML/],
  ['tag key with a space', { ...good(), tags: { 'bad key': 'x' } }, [422], /tag/],
  ['tags an array', { ...good(), tags: ['a'] }, [422], /tags/],
  ['too many tags', { ...good(), tags: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }, [422], /tags/],
  ['malformed JSON', '{"vm_name": ', [400], /malformed JSON/],
  ['JSON that is not an object', '["a"]', [400], /object/],
  ['JSON null', 'null', [400], /object/],
  ['empty body', '', [400], /required/],
  ['oversized body', JSON.stringify({ ...good(), user_data: b64('#cloud-config\n'.padEnd(100 * 1024, '#')) }), [413], /too large|larger/],
];

describe('bad input on create (new and legacy routes)', () => {
  it.each(cases)('%s → 4xx, nothing queued', async (_label, body, statuses, message) => {
    for (const path of ['/v1/vms', '/v1/create']) {
      const err = await expectRejected(path, typeof body === 'string' ? body : JSON.stringify(body), statuses);
      if (message) expect(err.error.message).toMatch(message);
    }
  });

  it('names the field of a schema failure without echoing the value', async () => {
    const err = await expectRejected('/v1/vms', JSON.stringify({ ...good(), vm_name: '$(curl evil.example)' }), [422]);
    expect(err.error.code).toBe('VALIDATION');
    expect(err.error.details).toEqual([{ path: 'vm_name', message: expect.stringMatching(/DNS label/) }]);
    expect(JSON.stringify(err)).not.toContain('evil.example');
  });

  it('refuses an oversized body without Content-Length (chunked) too', async () => {
    const big = JSON.stringify({ ...good(), user_data: b64('x'.repeat(100 * 1024)) });
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < big.length; i += 8192) c.enqueue(new TextEncoder().encode(big.slice(i, i + 8192)));
        c.close();
      },
    });
    const r = await h.fetch('/v1/vms', { method: 'POST', body: stream, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit);
    expect(r.status).toBe(413);
    expect(((await r.json()) as ErrorBody).error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('bad input on the other mutations', () => {
  it.each([
    ['POST', '/v1/vms/r1/good-name/stop', '{"force": "yes"}', [422]],
    ['POST', '/v1/vms/r1/good-name/stop', '{"timeout_ms": -1}', [422]],
    ['POST', '/v1/vms/r1/good-name/stop', '{oops', [400]],
    ['POST', '/v1/vms/r1/good-name/reboot', '{"timeout_ms": 1.5}', [422]],
    ['PUT', '/v1/vms/r1/good-name/tags', '{}', [422]],
    ['PUT', '/v1/vms/r1/good-name/tags', '{"tags": {"owner": "a\\u0000b"}}', [422]],
    ['PUT', '/v1/vms/r1/good-name/tags', '{"tags": {"owner": "a\\ufffeb"}}', [422]],
    ['PUT', '/v1/vms/r1/good-name/tags', '{"tags": {"owner": "\\uffff"}}', [422]],
    ['PUT', '/v1/vms/r1/good-name/tags', '{"tags": {"owner": "\\udc00"}}', [422]],
    ['POST', '/v1/vms/r1/BAD/start', '', [422]],
    ['POST', '/v1/vms/r1/a%0Ab/start', '', [422]],
    ['POST', '/v1/vms/nowhere/good-name/start', '', [404]],
    ['POST', '/v1/vms/off/good-name/start', '', [404]],
    ['DELETE', '/v1/vms/r1/%24(id)', '', [422]],
    ['POST', '/v1/start', '{"vm_name": "$(id)", "region_name": "r1"}', [422]],
    ['POST', '/v1/stop', '{"vm_name": "good-name", "region_name": "nowhere"}', [422]],
    ['POST', '/v1/edit-tags', '{"vm_name": "good-name", "region_name": "r1", "tags": {"k": 1}}', [422]],
    ['POST', '/v1/edit-tags', '{"vm_name": "good-name", "region_name": "r1", "tags": {"k": "\\ufffe"}}', [422]],
    ['POST', '/v1/edit-tags', '{"vm_name": "good-name", "region_name": "r1", "tags": {"k": "x\\uffff"}}', [422]],
    ['DELETE', '/v1/delete', '{"vm_name": "--force", "region_name": "r1"}', [422]],
    ['DELETE', '/v1/delete', 'not json', [400]],
  ])('%s %s %s → %j', async (method, path, body, statuses) => {
    await expectRejected(path, body, statuses, method);
  });

  it('names the tag whose value XML cannot hold, on the new and the legacy tag routes', async () => {
    const put = await expectRejected('/v1/vms/r1/good-name/tags', JSON.stringify({ tags: { ok: 'fine', bad: 'x\uFFFF' } }), [422], 'PUT');
    expect(put.error.details).toEqual([{ path: 'tags.bad', message: expect.stringMatching(/^must be .*XML/) }]);
    const legacy = await expectRejected('/v1/edit-tags', JSON.stringify({ vm_name: 'good-name', region_name: 'r1', tags: { bad: '\uFFFE' } }), [422]);
    expect(legacy.detail).toMatch(/^tags\.bad must be .*XML/);
  });

  it('answers 404 for an operation on a VM that no host knows', async () => {
    for (const [method, path] of [
      ['POST', '/v1/vms/r1/ghost/start'],
      ['POST', '/v1/vms/r1/ghost/stop'],
      ['POST', '/v1/vms/r1/ghost/reboot'],
      ['DELETE', '/v1/vms/r1/ghost'],
    ]) {
      const err = await expectRejected(path as string, '', [404], method);
      expect(err.error.message).toBe('VM r1/ghost not found');
    }
    await expectRejected('/v1/vms/r1/ghost/tags', '{"tags": {}}', [404], 'PUT');
    await expectRejected('/v1/start', '{"vm_name": "ghost", "region_name": "r1"}', [404]);
  });
});

describe('unknown fields and filter values on the new routes', () => {
  /** The field as the error names it: plain names as they are, others JSON-quoted and cut to 64 characters. */
  const named = (k: string) => (/^[A-Za-z0-9_.:-]{1,64}$/.test(k) ? k : JSON.stringify(k.slice(0, 64)));

  it.each(HOSTILE_FIELDS)('a create with field %j → 422 naming it', async (field) => {
    const body = `{${JSON.stringify(field)}: "x", ${JSON.stringify(good()).slice(1)}`;
    const err = await expectRejected('/v1/vms', body, [422]);
    expect(err.error.code).toBe('VALIDATION');
    expect(err.error.details).toEqual([{ path: named(field), message: 'is not a known field' }]);
    expect(err.error.message).toBe(`${named(field)} is not a known field`);
  });

  it.each([
    ['POST', '/v1/vms', { ...good(), flavour: 'small' }, ['flavour']],
    ['POST', '/v1/vms', { name: 'good-name', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' }, ['name']],
    ['POST', '/v1/vms/r1/good-name/stop', { forse: true }, ['forse']],
    ['POST', '/v1/vms/r1/good-name/stop', { force: true, timeout: 5000, graceful: false }, ['timeout', 'graceful']],
    ['POST', '/v1/vms/r1/good-name/reboot', { timeout: 5000 }, ['timeout']],
    ['POST', '/v1/vms/r1/good-name/start', { wait: true }, ['wait']],
    ['PUT', '/v1/vms/r1/good-name/tags', { tags: {}, merge: true }, ['merge']],
    ['DELETE', '/v1/vms/r1/good-name', { purge: true }, ['purge']],
  ])('%s %s %j → 422 naming %j', async (method, path, body, fields) => {
    const err = await expectRejected(path, JSON.stringify(body), [422], method);
    expect(err.error.details).toEqual(expect.arrayContaining(fields.map((f) => ({ path: f, message: 'is not a known field' }))));
    expect(err.error.message).toContain(fields[0]);
  });

  it.each([
    ['/v1/vms?state=bogus', 'state', /must be one of running, idle, paused, in shutdown, shut off, crashed, pmsuspended, no state/],
    ['/v1/vms?sate=running', 'sate', /^is not a known field$/],
    ['/v1/vms?region=nowhere', 'region_name', /must be one of r1, r2$/],
    ['/v1/vms?tag=bad%20key', 'tag.0', /key=value/],
    ['/v1/vms/r1/good-name?refrsh=true', 'refrsh', /^is not a known field$/],
    ['/v1/jobs?state=bogus', 'state', /must be one of queued, running, succeeded, failed, canceled/],
    ['/v1/jobs?kind=bogus', 'kind', /must be one of create, start, stop, reboot, delete, edit-tags, refresh, image-cache/],
    ['/v1/jobs?vm=good-name', 'vm', /^is not a known field$/],
    ['/v1/jobs?region=nowhere', 'region', /must be one of r1, r2, off/],
  ])('GET %s → 422 on %s, not a list', async (path, field, message) => {
    const err = await expectRejected(path, '', [422], 'GET');
    const details = err.error.details as Array<{ path: string; message: string }>;
    expect(details[0]?.path).toBe(field);
    expect(details[0]?.message).toMatch(message);
  });

  it('says which regions, instance types and images exist (configuration only: disabled regions left out)', async () => {
    const region = await expectRejected('/v1/vms', JSON.stringify({ ...good(), region_name: 'nowhere' }), [422]);
    expect(region.error.message).toBe('unknown region: region_name must be one of r1, r2');
    const type = await expectRejected('/v1/vms', JSON.stringify({ ...good(), instance_type: 'gigantic' }), [422]);
    expect(type.error.message).toBe('instance_type must be one of tiny, large (the types of region r1)');
    const other = await expectRejected('/v1/vms', JSON.stringify({ ...good(), region_name: 'r2', instance_type: 'large' }), [422]);
    expect(other.error.message).toBe('instance_type must be one of tiny (the types of region r2)');
    const image = await expectRejected('/v1/vms', JSON.stringify({ ...good(), image: 'no-such-image' }), [422]);
    expect(image.error.message).toBe('unknown image: image must be one of v0.76.0, debian-12');
    // The value sent is not echoed back.
    expect(JSON.stringify([region, type, image])).not.toMatch(/nowhere|gigantic|no-such-image/);
    // A bad path region is a 404 that names the regions too.
    const path = await expectRejected('/v1/vms/nowhere/good-name/start', '', [404]);
    expect(path.error.message).toBe('unknown region: region_name must be one of r1, r2');
  });
});

describe('error messages read as sentences naming their object', () => {
  const messageOf = async (method: string, path: string, body: unknown, status: number) => {
    const err = await expectRejected(path, body === undefined ? '' : JSON.stringify(body), [status], method);
    return err;
  };

  it('a missing field "is required", one of the wrong type says which type', async () => {
    const missing = await messageOf('POST', '/v1/vms', { region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' }, 422);
    expect(missing.error.message).toBe('vm_name is required');
    expect(missing.error.details).toEqual([{ path: 'vm_name', message: 'is required' }]);
    const all = await messageOf('POST', '/v1/vms', {}, 422);
    expect(all.error.message).toBe('vm_name is required; region_name is required; instance_type is required (and 1 more: see error.details)');
    expect((all.error.details as unknown[]).length).toBe(4);
    const typed = await messageOf('POST', '/v1/vms', { ...good(), vm_name: 7 }, 422);
    expect(typed.error.message).toBe('vm_name must be a string');
    const flag = await messageOf('POST', '/v1/vms/r1/good-name/stop', { force: 'yes' }, 422);
    expect(flag.error.message).toBe('force must be true or false');
    const whole = await messageOf('POST', '/v1/vms/r1/good-name/reboot', { timeout_ms: 1.5 }, 422);
    expect(whole.error.message).toBe('timeout_ms must be a whole number');
    const tags = await messageOf('POST', '/v1/vms', { ...good(), tags: ['a'] }, 422);
    expect(tags.error.message).toBe('tags must be an object');
  });

  it('a number or a list out of range says its bound', async () => {
    expect((await messageOf('GET', '/v1/vms/r1/good-name/console?tail_bytes=1048577', undefined, 422)).error.message).toBe(
      'tail_bytes must be at most 1048576',
    );
    expect((await messageOf('POST', '/v1/vms/r1/good-name/stop', { timeout_ms: -1 }, 422)).error.message).toBe('timeout_ms must be greater than 0');
    expect((await messageOf('POST', '/v1/vms', { ...good(), ready_timeout_s: 99999 }, 422)).error.message).toBe('ready_timeout_s must be at most 3600');
    const events = await messageOf('POST', '/v1/webhooks', { url: 'https://hooks.example.org/x', events: [] }, 422);
    expect(events.error.message).toBe('events must have at least 1 item');
    const long = await messageOf('POST', '/v1/vms', { ...good(), webhook_url: `https://hooks.example.org/${'x'.repeat(2100)}` }, 422);
    expect(long.error.message).toBe('webhook_url must be at most 2048 characters long');
  });

  it('a value outside a closed set lists the set; an unknown field is named', async () => {
    expect((await messageOf('POST', '/v1/vms', { ...good(), wait_until: 'soon' }, 422)).error.message).toBe('wait_until must be one of running, ready');
    const event = await messageOf('POST', '/v1/vms', { ...good(), webhook_events: ['job.exploded'] }, 422);
    expect(event.error.message).toMatch(/^webhook_events\.0 must be one of job\.succeeded, job\.failed, /);
    expect((await messageOf('POST', '/v1/vms', { ...good(), flavour: 'small' }, 422)).error.message).toBe('flavour is not a known field');
  });

  it('a schema’s own rule follows the field’s name once, never twice', async () => {
    const name = await messageOf('POST', '/v1/vms', { ...good(), vm_name: 'Bad Name' }, 422);
    expect(name.error.message).toBe('vm_name must be a lowercase DNS label (1-63 of a-z, 0-9, -)');
    expect(name.error.details).toEqual([{ path: 'vm_name', message: 'must be a lowercase DNS label (1-63 of a-z, 0-9, -)' }]);
    // A path parameter is named as the path names it (`/v1/vms/{region}/{name}`).
    const path = await messageOf('POST', '/v1/vms/r1/Bad/start', undefined, 422);
    expect(path.error.message).toBe('name must be a lowercase DNS label (1-63 of a-z, 0-9, -)');
    const url = await messageOf('POST', '/v1/vms', { ...good(), webhook_url: 'string' }, 422);
    expect(url.error.message).toBe('webhook_url is not a well-formed URL');
    const key = await messageOf('POST', '/v1/vms', { ...good(), tags: { 'bad key': 'x' } }, 422);
    expect(key.error.message).toBe('tags key "bad key" must be 1-63 of A-Za-z0-9_.:/-, starting with a letter or digit');
    const snapshot = await messageOf('POST', '/v1/vms/r1/good-name/snapshots', { name: 'Bad Name' }, 422);
    expect(snapshot.error.message).toBe('name must be a lowercase DNS label (1-63 of a-z, 0-9, -)');
    for (const m of [name, path, url, key, snapshot].map((e) => e.error.message)) {
      expect(m).not.toMatch(/Invalid input|Too big|Too small|expected .* received|: (vm_name|webhook_url|tags) /);
    }
  });

  it('not found and exists name the VM, the job, the endpoint', async () => {
    expect((await messageOf('GET', '/v1/vms/r1/ghost', undefined, 404)).error.message).toBe('VM r1/ghost not found');
    expect((await messageOf('POST', '/v1/vms/r1/ghost/stop', undefined, 404)).error.message).toBe('VM r1/ghost not found');
    expect((await messageOf('GET', '/v1/vms/r1/ghost/snapshots', undefined, 404)).error.message).toBe('VM r1/ghost not found');
    expect((await messageOf('GET', '/v1/jobs/job_00000000000000000000000000000000', undefined, 404)).error.message).toBe(
      'job job_00000000000000000000000000000000 not found',
    );
    expect((await messageOf('DELETE', '/v1/webhooks/whk_00000000000000000000000000000000', undefined, 404)).error.message).toBe(
      'webhook endpoint whk_00000000000000000000000000000000 not found',
    );
    // An id that is not plain is quoted and cut short, never echoed raw.
    expect((await messageOf('GET', `/v1/jobs/${encodeURIComponent('<b>x</b>')}`, undefined, 404)).error.message).toBe('job "<b>x</b>" not found');
    await h.writeInventory('r1', 'h1', [{ name: 'taken' }]);
    try {
      const exists = await messageOf('POST', '/v1/vms', { ...good(), vm_name: 'taken' }, 409);
      expect(exists.error.message).toBe('VM r1/taken already exists');
    } finally {
      await h.writeInventory('r1', 'h1', []);
    }
  });
});

describe('decodeUserData', () => {
  it('returns the text of valid base64 YAML and null when absent', () => {
    expect(decodeUserData(b64('#cloud-config\npackages: [htop]\n'))).toBe('#cloud-config\npackages: [htop]\n');
    expect(decodeUserData(b64('#!/bin/sh\necho hi\n'))).toBe('#!/bin/sh\necho hi\n');
    expect(decodeUserData(undefined)).toBeNull();
    expect(decodeUserData(null)).toBeNull();
    expect(decodeUserData('')).toBeNull();
  });
});
