import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCRIPT_NAMES } from '../src/scripts.ts';
import { runScript } from '../src/testing.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('scripts');

describe('the store’s Lua scripts', () => {
  it('are exactly the typed script names, one file each', () => {
    const files = readdirSync(new URL('../src/lua/', import.meta.url)).filter((f) => f.endsWith('.lua'));
    expect(files.map((f) => f.replace(/(-\d+)?\.lua$/, '')).sort()).toEqual([...SCRIPT_NAMES].sort());
  });

  it('are called by a typed name: a typo fails typecheck, and at run time too', async () => {
    // @ts-expect-error: not a script name (typecheck fails if runScript accepts any string).
    expect(() => runScript(env.redis, 'reservePendng', [], [])).toThrow(/no script reservePendng/);
    expect(await runScript<number>(env.redis, 'releaseRegionLock', [`${env.prefix}:lock`], ['token'])).toBe(0);
  });
});
