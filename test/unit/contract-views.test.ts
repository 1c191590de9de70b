/**
 * The shapes of the API (views, bodies, queries, path parameters, the error envelope) are declared once, as
 * zod schemas in `@provisioner/contracts/api`, and their types inferred from them (issue 24): no file of the
 * apps or of the client declares an interface or an object type of the same name again, as
 * apps/api/src/inventory.ts did for the VM view and the client for the list query.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as api from '@provisioner/contracts/api';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const root = new URL('../../', import.meta.url).pathname;

function sources(): Array<{ file: string; text: string }> {
  const dirs = [...readdirSync(join(root, 'apps')).map((a) => `apps/${a}/src`), 'packages/client/src'];
  return dirs.flatMap((dir) =>
    readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') || f.endsWith('.tsx'))
      .map((f) => ({ file: join(dir, f), text: readFileSync(join(root, dir, f), 'utf8') })),
  );
}

/** The contract's schemas by name. */
const SCHEMAS = Object.entries(api)
  .filter(([, v]) => v instanceof z.ZodType)
  .map(([k]) => k);

/** `interface Name` or `type Name = {` (a shape written out again), for any of the names. */
function restated(text: string): string[] {
  const names = SCHEMAS.join('|');
  return [...text.matchAll(new RegExp(`\\b(?:interface\\s+(${names})\\b|type\\s+(${names})\\s*=\\s*\\{)`, 'g'))].map((m) => (m[1] ?? m[2]) as string);
}

describe('the contract’s shapes', () => {
  it('are not declared again in the apps or the client', () => {
    expect(SCHEMAS).toEqual(expect.arrayContaining(['VmItem', 'JobView', 'SnapshotItem', 'HostStatus', 'RegionHost', 'ReadyHost', 'VmListQuery', 'ErrorBody']));
    const found = sources().flatMap(({ file, text }) => restated(text).map((n) => `${n} in ${file}`));
    expect(found).toEqual([]);
  });

  it('would notice one declared again', () => {
    expect(restated('export interface VmItem {\n  vm_name: string;\n}')).toEqual(['VmItem']);
    expect(restated('type HostStatus = { region: string };')).toEqual(['HostStatus']);
    expect(restated("export type VmItem = z.infer<typeof VmItem>; export type { HostStatus } from './x';")).toEqual([]);
  });
});
