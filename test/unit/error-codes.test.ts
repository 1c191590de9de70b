/**
 * The error codes have one owner, `@provisioner/contracts/api` (issue 24): the API sends no code outside its
 * closed list, `/openapi.json` documents the contract's envelope and list, and the client keeps no copy of
 * its own. The API's sources are scanned for every place a code is written out (a typed error, a route's
 * documented errors, a code compared or sent as is), so a code spelled outside the list fails here even
 * where the compiler would not see it (a string sent in an event stream).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_ERROR_CODES, ERROR_STATUS, ErrorBody } from '@provisioner/contracts/api';
import { describe, expect, it } from 'vitest';
import { JOB_FAILURE } from '../../apps/api/src/errors.ts';
import { openApiDocument } from '../../apps/api/src/openapi.ts';
import { routeErrors } from '../../apps/api/src/route.ts';
import { ROUTES } from '../../apps/api/src/routes/index.ts';

const root = new URL('../../', import.meta.url).pathname;

function sources(dir: string): Array<{ file: string; text: string }> {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: join(dir, f), text: readFileSync(join(root, dir, f), 'utf8') }));
}

/** Where the API writes a code out: `ApiError('X'`, `errors: ['X', …]`, `.code === 'X'`, `code = … 'X' : 'Y'`. */
const CODE_SITES = [
  /ApiError\(\s*'([A-Z][A-Z_]+)'/g,
  /\.code\s*[!=]==\s*'([A-Z][A-Z_]+)'/g,
  /\berrors:\s*\[([^\]]*)\]/g,
  /\bcode(?:\s*:\s*\w+)?\s*=\s*[^;\n]*\?\s*'([A-Z][A-Z_]+)'\s*:\s*'([A-Z][A-Z_]+)'/g,
  /\.add\('([A-Z][A-Z_]+)'\)/g,
];

/** The codes a match names: a captured code, or the quoted ones of a captured list. */
function codesOf(m: RegExpMatchArray): string[] {
  return m.slice(1).flatMap((g) => (g === undefined ? [] : g.includes("'") ? [...g.matchAll(/'([A-Z][A-Z_]+)'/g)].map((x) => x[1] as string) : [g]));
}

/** Every code written out in the API's sources, with where. */
function codesUsed(): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const { file, text } of sources('apps/api/src')) {
    for (const re of CODE_SITES) {
      for (const m of text.matchAll(re)) for (const code of codesOf(m)) used.set(code, [...(used.get(code) ?? []), file]);
    }
  }
  return used;
}

describe('the closed list of error codes', () => {
  it('gives every code of the list its status, and nothing else', () => {
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...API_ERROR_CODES].sort());
    expect(ErrorBody.shape.error.shape.code.options).toEqual([...API_ERROR_CODES]);
  });

  it('holds every code the API writes out (scanned from its sources)', () => {
    const used = codesUsed();
    // The scan finds the codes where they are: a scan that found nothing would pass whatever the sources say.
    expect([...used.keys()]).toEqual(expect.arrayContaining(['VALIDATION', 'NOT_FOUND', 'CONFLICT', 'FORBIDDEN', 'UNAVAILABLE', 'INTERNAL', 'TIMEOUT']));
    const outside = [...used]
      .filter(([code]) => !(API_ERROR_CODES as readonly string[]).includes(code))
      .map(([code, files]) => `${code} in ${files.join(', ')}`);
    expect(outside).toEqual([]);
  });

  it('would notice a code outside the list', () => {
    const text =
      "throw new ApiError('TEAPOT', 'short and stout'); const x = { errors: ['NOT_FOUND', 'GONE'] }; const code: ErrorCode = a ? 'LOST' : 'INTERNAL';";
    const found = CODE_SITES.flatMap((re) => [...text.matchAll(re)].flatMap(codesOf));
    expect(found.filter((c) => !(API_ERROR_CODES as readonly string[]).includes(c))).toEqual(['TEAPOT', 'GONE', 'LOST']);
  });

  it('holds what failed jobs and the routes’ metadata map to', () => {
    for (const code of Object.values(JOB_FAILURE)) expect(API_ERROR_CODES).toContain(code);
    for (const r of ROUTES) for (const code of routeErrors(r)) expect(API_ERROR_CODES).toContain(code);
  });

  it('is what /openapi.json documents: the contract’s envelope and list', () => {
    const doc = openApiDocument() as { components: { schemas: Record<string, { properties: { error: { properties: { code: { enum: string[] } } } } }> } };
    expect(doc.components.schemas.ErrorBody?.properties.error.properties.code.enum).toEqual([...API_ERROR_CODES]);
  });
});

describe('the client', () => {
  it('keeps no copy of the list: no file of packages/client/src spells out two codes side by side', () => {
    const codes = API_ERROR_CODES.join('|');
    const list = new RegExp(`'(?:${codes})'\\s*[|,]\\s*'(?:${codes})'`);
    const copies = sources('packages/client/src').filter(({ text }) => list.test(text));
    expect(copies.map((c) => c.file)).toEqual([]);
    // The look finds a copy where there is one: the union the client kept before, and the contract's own list.
    expect(list.test("export type ApiErrorCode =\n  | 'BAD_REQUEST'\n  | 'UNAUTHORIZED'")).toBe(true);
    expect(list.test(JSON.stringify(API_ERROR_CODES).replaceAll('"', "'"))).toBe(true);
  });

  it('takes its codes from the contract', () => {
    const text = readFileSync(join(root, 'packages/client/src/errors.ts'), 'utf8');
    expect(text).toMatch(/import type \{[^}]*\bApiErrorCode\b[^}]*\} from '@provisioner\/contracts\/api'/);
  });
});
