/** docs/architecture.md's key table names every key the store builds (keys.ts): a new key is documented. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { keys } from '../src/keys.ts';

const ARG = '\u0001';

/** The fixed part of a key after `<prefix>:`, up to its first argument (`inv:`, `admin:session:`, `cancel`). */
function keyPrefix(build: (...a: string[]) => string): string {
  const key = build('P', ...Array.from({ length: build.length - 1 }, () => ARG));
  const rest = key.slice('P:'.length);
  const at = rest.indexOf(ARG);
  return at === -1 ? rest : rest.slice(0, at);
}

describe('the key table of docs/architecture.md', () => {
  const table = readFileSync(new URL('../../../docs/architecture.md', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('| '));

  it('has a row for every key prefix the store defines', () => {
    const prefixes = Object.values(keys).map((k) => keyPrefix(k as (...a: string[]) => string));
    expect(prefixes).toContain('cordon:');
    expect(prefixes).toContain('admin:session:');
    expect(prefixes).toContain('cancel');
    const missing = prefixes.filter((p) => !table.some((row) => row.includes(`\`${p}`)));
    expect(missing).toEqual([]);
  });
});
