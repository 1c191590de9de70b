/** IdempotencyStore and its script (idempotencyClaim) against the machine's Redis. */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IdempotencyStore } from '../src/idempotency-store.ts';
import { keys } from '../src/keys.ts';
import { useRedisPrefix } from './redis-prefix.ts';

const env = useRedisPrefix('idem');
/** The service's key for data at rest (user_data_key). */
const KEY = randomBytes(32).toString('base64');
const recordKey = (caller: string, key: string) => keys.idempotency(env.prefix, createHash('sha256').update(`${caller}\n${key}`).digest('hex'));

describe('IdempotencyStore', () => {
  it('gives a key to exactly one of many requests racing from two clients; the others see its claim', async () => {
    const a = new IdempotencyStore(env.connect(), env.prefix, KEY);
    const b = new IdempotencyStore(env.connect(), env.prefix, KEY);
    const claims = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).claim('ci', 'race-1', `h${i}`, 60)));
    const won = claims.flatMap((c, i) => (c === null ? [i] : []));
    expect(won).toHaveLength(1);
    for (const c of claims) if (c) expect(c).toEqual({ hash: `h${won[0]}`, state: 'pending' });
  });

  it('holds a claim for its pending TTL, then the saved answer for the TTL given, until released', async () => {
    const s = new IdempotencyStore(env.redis, env.prefix, KEY);
    expect(await s.claim('ci', 'k-2', 'h', 60)).toBeNull();
    const ttl = await env.redis.ttl(recordKey('ci', 'k-2'));
    expect(ttl).toBeGreaterThan(55);
    expect(ttl).toBeLessThanOrEqual(60);
    const done = { hash: 'h', state: 'done' as const, job_id: 'job_1', response: { status: 202, body: '{}', location: '/v1/jobs/job_1' } };
    await s.save('ci', 'k-2', done, 3600);
    expect(await env.redis.ttl(recordKey('ci', 'k-2'))).toBeGreaterThan(3500);
    // A replay gets the record, and does not overwrite it.
    expect(await s.claim('ci', 'k-2', 'other', 60)).toEqual(done);
    expect(await s.claim('ci', 'k-2', 'h', 60)).toEqual(done);
    await s.release('ci', 'k-2');
    expect(await s.claim('ci', 'k-2', 'h2', 60)).toBeNull();
  });

  it('keeps two callers with the same key apart, and stores neither the key nor the caller as they are', async () => {
    const s = new IdempotencyStore(env.redis, env.prefix, KEY);
    expect(await s.claim('alice', 'shared-key', 'ha', 60)).toBeNull();
    expect(await s.claim('bob', 'shared-key', 'hb', 60)).toBeNull();
    const found = await env.redis.keys(`${keys.idempotency(env.prefix, '')}*`);
    expect(recordKey('alice', 'shared-key')).not.toBe(recordKey('bob', 'shared-key'));
    expect(found).toEqual(expect.arrayContaining([recordKey('alice', 'shared-key'), recordKey('bob', 'shared-key')]));
    expect(found.some((k) => k.includes('shared-key') || k.includes('alice'))).toBe(false);
  });

  it('reads a record it cannot parse as another request (refused, never overwritten)', async () => {
    await env.redis.set(recordKey('ci', 'k-bad'), 'not json', 'EX', 60);
    expect(await new IdempotencyStore(env.redis, env.prefix, KEY).claim('ci', 'k-bad', 'h', 60)).toEqual({ hash: '', state: 'done' });
    expect(await env.redis.get(recordKey('ci', 'k-bad'))).toBe('not json');
  });

  it('seals answers with the service key, bound to the record: another key or another record cannot open them', async () => {
    const s = new IdempotencyStore(env.redis, env.prefix, KEY);
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const response = { status: 201, body: JSON.stringify({ id: 'whk_1', secret }), location: '/v1/webhooks/whk_1' };
    await s.save('admin', 'seal-1', { hash: 'h', state: 'done', response }, 60);
    const raw = String(await env.redis.get(recordKey('admin', 'seal-1')));
    expect(raw).not.toContain(secret.slice(6));
    expect(raw).not.toContain('whk_1');
    expect(JSON.parse(raw)).toEqual({ hash: 'h', state: 'done', response_sealed: expect.stringMatching(/^v1\./) });
    expect(await s.claim('admin', 'seal-1', 'h', 60)).toEqual({ hash: 'h', state: 'done', response });
    // The service key changed: the record is known (never overwritten) but its answer cannot be replayed.
    expect(await new IdempotencyStore(env.redis, env.prefix, randomBytes(32).toString('base64')).claim('admin', 'seal-1', 'h', 60)).toEqual({
      hash: 'h',
      state: 'done',
      unreadable: true,
    });
    // Copied under another caller's record, it does not open either.
    await env.redis.set(recordKey('other', 'seal-1'), raw, 'EX', 60);
    expect(await s.claim('other', 'seal-1', 'h', 60)).toEqual({ hash: 'h', state: 'done', unreadable: true });
  });

  it('replays a record an older build wrote with its answer unsealed', async () => {
    const done = { hash: 'h', state: 'done', job_id: 'job_1', response: { status: 202, body: '{}', location: '/v1/jobs/job_1' } };
    await env.redis.set(recordKey('ci', 'k-old'), JSON.stringify(done), 'EX', 60);
    expect(await new IdempotencyStore(env.redis, env.prefix, KEY).claim('ci', 'k-old', 'h', 60)).toEqual(done);
  });
});
