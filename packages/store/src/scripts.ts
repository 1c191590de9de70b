/**
 * The store's Lua scripts: one `.lua` file each in `./lua/` (as BullMQ keeps `src/commands/*.lua`), defined
 * once per connection with ioredis `defineCommand`, so every call is an EVALSHA of a few bytes (EVAL with the
 * whole text only when the server lost its script cache). A file named `name-N.lua` takes N keys; `name.lua`
 * takes its key count as its first argument (scripts whose keys vary).
 *
 * The bundles (`npm run build`) carry the files in `dist/lua/` beside `main.js`: the same `./lua/` path.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const DIR = new URL('./lua/', import.meta.url);

/** Every script, by its file's name (`name-N.lua` or `name.lua`): a name not here fails typecheck. */
export const SCRIPT_NAMES = [
  'authAttempt',
  'cancelQueued',
  'idempotencyClaim',
  'patchInventoryVm',
  'putListedEntry',
  'rateLimitHit',
  'recordJob',
  'releasePending',
  'releaseRegionLock',
  'reservePending',
  'settleJob',
  'sweepPending',
  'vmHeads',
  'webhookOutbox',
  'webhookOutboxClaim',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

interface ScriptFile {
  name: string;
  keys: number | undefined;
  lua: string;
}

let files: ScriptFile[] | undefined;

/** The scripts on disk, read once per process (they are part of the code, not state). */
export function scriptFiles(): readonly ScriptFile[] {
  files ??= readdirSync(DIR)
    .filter((f) => f.endsWith('.lua'))
    .sort()
    .map((f) => {
      const m = /^([a-zA-Z][a-zA-Z0-9]*)(?:-(\d+))?\.lua$/.exec(f);
      if (!m?.[1]) throw new Error(`store: bad script file name ${f} (name-KEYS.lua or name.lua)`);
      if (!(SCRIPT_NAMES as readonly string[]).includes(m[1])) throw new Error(`store: script ${f} is not in SCRIPT_NAMES`);
      return { name: m[1], keys: m[2] === undefined ? undefined : Number(m[2]), lua: readFileSync(new URL(f, DIR), 'utf8') };
    });
  return files;
}

const DEFINED = Symbol('provisioner.scripts');

/**
 * Defines every script as a command on `redis` (idempotent per connection object). Returns a typed way to
 * call one: `call(redis, 'reservePending', keys, args)`.
 */
export function defineScripts(redis: Redis): void {
  const r = redis as Redis & { [DEFINED]?: true };
  if (r[DEFINED]) return;
  for (const s of scriptFiles()) {
    redis.defineCommand(s.name, s.keys === undefined ? { lua: s.lua } : { numberOfKeys: s.keys, lua: s.lua });
  }
  r[DEFINED] = true;
}

/** Runs script `name` with `keys` and `args` through its defined command (EVALSHA). */
export function runScript<T = unknown>(redis: Redis, name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<T> {
  defineScripts(redis);
  const file = scriptFiles().find((s) => s.name === name);
  if (!file) throw new Error(`store: no script ${name}`);
  const cmd = (redis as unknown as Record<string, (...a: unknown[]) => Promise<T>>)[name];
  if (typeof cmd !== 'function') throw new Error(`store: script ${name} is not defined on this connection`);
  if (file.keys !== undefined && file.keys !== keys.length) throw new Error(`store: script ${name} takes ${file.keys} keys, got ${keys.length}`);
  return file.keys === undefined ? cmd.call(redis, keys.length, ...keys, ...args) : cmd.call(redis, ...keys, ...args);
}
