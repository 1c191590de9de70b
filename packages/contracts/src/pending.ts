/**
 * Creates placed on a host that its inventory may not list yet ("pending"), and their running totals.
 * Each host has a hash (vm name → JSON PendingCreate) and a totals hash (n, vcpus, memory_mb, storage_mb)
 * that the scripts below keep equal to the sum of the entries, atomically, so placement reads four
 * numbers per host instead of the whole backlog, and reserves capacity without a lock.
 */
import type { Redis } from 'ioredis';
import { keys, type PendingCreate } from './jobs.ts';

/** Running totals of a host's pending creates. */
export interface PendingTotals {
  n: number;
  vcpus: number;
  memory_mb: number;
  storage_mb: number;
}

export const NO_PENDING: PendingTotals = { n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 };

/** How much of each may be pending on the host in all (null: no limit). */
export interface PendingLimits {
  n: number | null;
  vcpus: number | null;
  memory_mb: number | null;
  storage_mb: number | null;
}

const FIELDS = ['n', 'vcpus', 'memory_mb', 'storage_mb'] as const;

// KEYS: pending hash, totals hash, the VM's host key. ARGV: vm, host, JSON entry, then need and limit per
// field (limit -1: none). Checks the totals with the VM against the limits, reserves the name (SET NX),
// then records the entry and adds it to the totals. Answers 'ok', 'exists' or 'full:<field>'.
const RESERVE = `local t = redis.call('HMGET', KEYS[2], 'n', 'vcpus', 'memory_mb', 'storage_mb')
local f = {'n', 'vcpus', 'memory_mb', 'storage_mb'}
for i = 1, 4 do
  local lim = tonumber(ARGV[7 + i])
  if lim >= 0 and (tonumber(t[i]) or 0) + tonumber(ARGV[3 + i]) > lim then return 'full:' .. f[i] end
end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX') then return 'exists' end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 1 then
  for i = 1, 4 do redis.call('HINCRBY', KEYS[2], f[i], ARGV[3 + i]) end
end
return 'ok'`;

// KEYS: pending hash, totals hash. ARGV: names. Removes the names' entries, then sets the totals to the
// sum of what is left (so totals that drifted, e.g. written before totals existed, are right again).
const SWEEP = `if #ARGV > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV)) end
local s = {0, 0, 0, 0}
local vals = redis.call('HVALS', KEYS[1])
for _, v in ipairs(vals) do
  local ok, e = pcall(cjson.decode, v)
  if ok and type(e) == 'table' then
    s[1] = s[1] + 1
    s[2] = s[2] + (tonumber(e.vcpus) or 0)
    s[3] = s[3] + (tonumber(e.memory_mb) or 0)
    s[4] = s[4] + (tonumber(e.storage_mb) or 0)
  end
end
redis.call('HSET', KEYS[2], 'n', s[1], 'vcpus', s[2], 'memory_mb', s[3], 'storage_mb', s[4])
return s`;

// KEYS: pending hash, totals hash. ARGV: vm. Removes its entry and takes it off the totals.
const RELEASE = `local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local ok, e = pcall(cjson.decode, v)
if ok and type(e) == 'table' then
  redis.call('HINCRBY', KEYS[2], 'n', -1)
  redis.call('HINCRBY', KEYS[2], 'vcpus', -(tonumber(e.vcpus) or 0))
  redis.call('HINCRBY', KEYS[2], 'memory_mb', -(tonumber(e.memory_mb) or 0))
  redis.call('HINCRBY', KEYS[2], 'storage_mb', -(tonumber(e.storage_mb) or 0))
end
return 1`;

export type ReserveOutcome = { ok: true } | { ok: false; reason: 'exists' } | { ok: false; reason: 'full'; field: keyof PendingTotals };

/**
 * Reserves `vm`'s name for `host` and counts it as pending there, in one step, unless the host's pending
 * totals with it would pass `limits` (then nothing changes). 'exists': the name is taken in the region.
 */
export async function reservePending(
  redis: Redis,
  prefix: string,
  region: string,
  host: string,
  vm: string,
  need: PendingCreate,
  limits: PendingLimits,
): Promise<ReserveOutcome> {
  const entry: PendingCreate = { vcpus: need.vcpus, memory_mb: need.memory_mb, storage_mb: need.storage_mb };
  const needs = { n: 1, ...entry };
  const out = String(
    await redis.eval(
      RESERVE,
      3,
      keys.pendingCreates(prefix, region, host),
      keys.pendingTotals(prefix, region, host),
      keys.vmHost(prefix, region, vm),
      vm,
      host,
      JSON.stringify(entry),
      ...FIELDS.map((f) => String(needs[f])),
      ...FIELDS.map((f) => String(limits[f] === null ? -1 : Math.max(0, limits[f]))),
    ),
  );
  if (out === 'ok') return { ok: true };
  if (out === 'exists') return { ok: false, reason: 'exists' };
  return { ok: false, reason: 'full', field: out.slice('full:'.length) as keyof PendingTotals };
}

/** Stops counting `vm` as pending on `host` (its create ended: the inventory counts it now, if it exists). */
export async function releasePending(redis: Redis, prefix: string, region: string, host: string, vm: string): Promise<void> {
  await redis.eval(RELEASE, 2, keys.pendingCreates(prefix, region, host), keys.pendingTotals(prefix, region, host), vm);
}

/**
 * Undoes reservePending for a create that will not make its VM (not queued, canceled before it ran, or
 * failed for good): frees the name if it is still reserved for `host`, and stops counting the VM there.
 */
export async function freeCreate(redis: Redis, prefix: string, region: string, host: string, vm: string): Promise<void> {
  await redis.eval(
    `if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end\n${RELEASE}`,
    3,
    keys.pendingCreates(prefix, region, host),
    keys.pendingTotals(prefix, region, host),
    keys.vmHost(prefix, region, vm),
    vm,
    host,
  );
}

/** Removes `names` from the host's pending creates and recounts its totals from what is left. */
export async function sweepPending(redis: Redis, prefix: string, region: string, host: string, names: string[]): Promise<PendingTotals> {
  const s = (await redis.eval(SWEEP, 2, keys.pendingCreates(prefix, region, host), keys.pendingTotals(prefix, region, host), ...names)) as number[];
  return { n: Number(s[0]), vcpus: Number(s[1]), memory_mb: Number(s[2]), storage_mb: Number(s[3]) };
}

/** The pending totals of each host (read in parallel). */
export async function pendingTotals(redis: Redis, prefix: string, region: string, hosts: readonly string[]): Promise<Map<string, PendingTotals>> {
  const out = new Map<string, PendingTotals>();
  if (hosts.length === 0) return out;
  const res = await Promise.all(hosts.map((h) => redis.hmget(keys.pendingTotals(prefix, region, h), ...FIELDS)));
  for (const [i, h] of hosts.entries()) {
    const v = res[i] ?? [];
    out.set(h, { n: Number(v[0] ?? 0), vcpus: Number(v[1] ?? 0), memory_mb: Number(v[2] ?? 0), storage_mb: Number(v[3] ?? 0) });
  }
  return out;
}
