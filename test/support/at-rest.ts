/**
 * Looks for a secret at rest in Redis: every key under a prefix, whatever its type (string, hash, list,
 * set, sorted set, stream), read as bytes, searched for the secret in the forms it could be written in.
 */
import type { Redis } from 'ioredis';

/** A `whsec_…` secret as bytes in every form it could rest in: as given, its base64 part, the raw key bytes, base64url, hex, base64 of the whole. */
export function secretForms(secret: string): Buffer[] {
  const b64 = secret.replace(/^whsec_/, '');
  const raw = Buffer.from(b64, 'base64');
  const forms = [
    secret,
    b64,
    b64.replace(/=+$/, ''),
    raw.toString('base64url'),
    raw.toString('hex'),
    Buffer.from(secret).toString('base64').replace(/=+$/, ''),
  ];
  return [...forms.map((f) => Buffer.from(f)), raw];
}

async function scanKeys(redis: Redis, pattern: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = String(next);
    out.push(...found);
  } while (cursor !== '0');
  return out;
}

function flatten(v: unknown): Buffer[] {
  if (Buffer.isBuffer(v)) return [v];
  if (Array.isArray(v)) return v.flatMap(flatten);
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => [Buffer.from(k), ...flatten(x)]);
  return v === null || v === undefined ? [] : [Buffer.from(String(v))];
}

/** Every key's name and contents under `prefix`, as bytes; throws on a type it cannot read (so nothing is skipped unseen). */
export async function keyContents(redis: Redis, prefix: string): Promise<Map<string, Buffer[]>> {
  const out = new Map<string, Buffer[]>();
  for (const key of await scanKeys(redis, `${prefix}:*`)) {
    const type = await redis.type(key);
    let parts: unknown;
    if (type === 'string') parts = await redis.getBuffer(key);
    else if (type === 'hash') parts = await redis.hgetallBuffer(key);
    else if (type === 'list') parts = await redis.lrangeBuffer(key, 0, -1);
    else if (type === 'set') parts = await redis.smembersBuffer(key);
    else if (type === 'zset') parts = await redis.zrangeBuffer(key, 0, -1, 'WITHSCORES');
    else if (type === 'stream') parts = await redis.xrangeBuffer(key, '-', '+');
    else if (type === 'none')
      continue; // expired between SCAN and TYPE
    else throw new Error(`${key.toString()}: cannot read a ${type}`);
    out.set(key.toString(), [key, ...flatten(parts)]);
  }
  return out;
}

/** The keys under `prefix` whose name or contents hold any form of any of `secrets`. */
export async function keysHoldingSecrets(redis: Redis, prefix: string, secrets: readonly string[]): Promise<string[]> {
  const needles = secrets.flatMap(secretForms);
  const found: string[] = [];
  for (const [key, parts] of await keyContents(redis, prefix)) {
    if (parts.some((p) => needles.some((n) => p.includes(n)))) found.push(key);
  }
  return found;
}
