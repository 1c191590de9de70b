/** The client's pure parts: reading `Retry-After`, and error answers turned into typed errors. */
import { describe, expect, it } from 'vitest';
import { ApiError, isApiError, isConnectionError, parseRetryAfter, toApiError } from '../src/errors.ts';

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates; anything else is no advice', () => {
    expect(parseRetryAfter('7')).toBe(7);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    const now = Date.parse('2026-01-05T10:00:00Z');
    expect(parseRetryAfter('Mon, 05 Jan 2026 10:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Mon, 05 Jan 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter('-3')).toBeNull();
  });
});

describe('toApiError', () => {
  it('keeps the envelope’s code, message, request id, fields and Retry-After', async () => {
    const body = { error: { code: 'VALIDATION', message: 'vm_name: bad', request_id: 'req_1', details: [{ path: 'vm_name', message: 'bad' }] }, detail: 'x' };
    const e = await toApiError(new Response(JSON.stringify(body), { status: 422, headers: { 'retry-after': '2' } }));
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ kind: 'api', status: 422, code: 'VALIDATION', message: 'vm_name: bad', requestId: 'req_1', retryAfterS: 2 });
    expect(e.fields).toEqual([{ path: 'vm_name', message: 'bad' }]);
    expect(isApiError(e, 'VALIDATION')).toBe(true);
    expect(isApiError(e, 'NOT_FOUND')).toBe(false);
    expect(isConnectionError(e)).toBe(false);
  });

  it('a page that is not the envelope keeps the status line and the response’s request id', async () => {
    const e = await toApiError(new Response('<h1>Bad Gateway</h1>', { status: 502, statusText: 'Bad Gateway', headers: { 'x-request-id': 'req_2' } }));
    expect(e).toMatchObject({ status: 502, code: 'HTTP_502', message: 'Bad Gateway', requestId: 'req_2', retryAfterS: null });
    expect(e.fields).toEqual([]);
  });
});
