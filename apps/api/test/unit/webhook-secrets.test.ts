/**
 * No webhook secret rests in Redis in plain text: after registering an endpoint and rotating its secret
 * (each with an Idempotency-Key, as the typed client sends on every write) and submitting a job whose
 * webhook_url is signed with its token's secret, every key under the test's prefix, of every type, is
 * searched for every secret in every form it could be written in.
 */
import { createHash, randomBytes } from 'node:crypto';
import { newWebhookSecret, WEBHOOK_QUEUE } from '@provisioner/contracts';
import { IdempotencyStore, WebhookStore } from '@provisioner/store';
import { keys } from '@provisioner/store/testing';
import { describe, expect, it } from 'vitest';
import { keyContents, keysHoldingSecrets, secretForms } from '../../../../test/support/at-rest.ts';
import { TOKENS, useHarness } from './harness.ts';

const ADMIN_SECRET = newWebhookSecret();
const h = useHarness({ extra: { tokens: [{ name: 'admin', token: TOKENS.admin, scopes: ['admin'], webhook_secret: ADMIN_SECRET }] } });

const HOOK = 'https://hooks.example.org/provisioner';
const post = (path: string, json: unknown, key: string) => h.fetch(path, { method: 'POST', json, headers: { 'Idempotency-Key': key } });

describe('webhook secrets at rest', () => {
  it('the scan finds a secret in any form in a key of any type (so an empty finding below means something)', async () => {
    const secret = newWebhookSecret();
    const forms = secretForms(secret);
    const probe = (t: string) => `${h.prefix}:probe:${t}`;
    await h.redis.set(probe('string'), Buffer.concat([Buffer.from('x'), forms.at(-1) as Buffer, Buffer.from('y')])); // the raw key bytes
    await h.redis.hset(probe('hash'), 'f', `hex=${(forms[4] as Buffer).toString()}`);
    await h.redis.rpush(probe('list'), 'a', `{"s":"${(forms[3] as Buffer).toString()}"}`); // base64url
    await h.redis.sadd(probe('set'), (forms[2] as Buffer).toString()); // base64 without padding
    await h.redis.zadd(probe('zset'), 1, secret);
    await h.redis.xadd(probe('stream'), '*', 'body', (forms[5] as Buffer).toString()); // base64 of the whole secret
    try {
      const types = new Set((await keyContents(h.redis, h.prefix)).keys());
      expect([...types].filter((k) => k.includes(':probe:'))).toHaveLength(6);
      expect((await keysHoldingSecrets(h.redis, h.prefix, [secret])).sort()).toEqual(['hash', 'list', 'set', 'stream', 'string', 'zset'].map(probe));
    } finally {
      await h.redis.del(...['string', 'hash', 'list', 'set', 'zset', 'stream'].map(probe));
    }
  });

  it('after a registration, rotations and a signed job callback, no key holds a secret; replays still answer it', async () => {
    const made = await post('/v1/webhooks', { url: HOOK, events: ['job.succeeded'] }, 'reg-key-1');
    expect(made.status).toBe(201);
    const endpoint = (await made.json()) as { id: string; secret: string };
    const replayed = await post('/v1/webhooks', { url: HOOK, events: ['job.succeeded'] }, 'reg-key-1');
    expect(replayed.status).toBe(201);
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    // The client that lost the first answer gets the secret (from the sealed record), and no second endpoint was made.
    expect(((await replayed.json()) as { id: string; secret: string }).secret).toBe(endpoint.secret);
    const listed = (await (await h.fetch('/v1/webhooks')).json()) as { webhooks: Array<{ id: string }> };
    expect(listed.webhooks.map((w) => w.id)).toEqual([endpoint.id]);

    const rotate = (key: string, json: unknown) => post(`/v1/webhooks/${endpoint.id}/rotate-secret`, json, key);
    const overlapped = (await (await rotate('rot-key-1', { overlap_seconds: 3600 })).json()) as { secret: string };
    expect(((await (await rotate('rot-key-1', { overlap_seconds: 3600 })).json()) as { secret: string }).secret).toBe(overlapped.secret);
    const last = (await (await rotate('rot-key-2', {})).json()) as { secret: string };
    const secrets = [endpoint.secret, overlapped.secret, last.secret];
    expect(new Set(secrets).size).toBe(3);

    // A job with its own webhook_url (signed with the token's configured secret): its data, outbox entry,
    // delivery spec and queued delivery job are written too.
    const job = await post('/v1/vms', { vm_name: 'at-rest', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0', webhook_url: HOOK }, 'job-key-1');
    expect(job.status).toBe(202);
    const view = (await job.json()) as Parameters<WebhookStore['enqueueJobEvent']>[1];
    const hooks = new WebhookStore(h.redis, h.config, h.queues.get(WEBHOOK_QUEUE));
    expect(await hooks.enqueueJobEvent('job.succeeded', { ...view, state: 'succeeded' }, { url: HOOK, token: 'admin' })).toHaveLength(2);

    expect(await keysHoldingSecrets(h.redis, h.prefix, [...secrets, ADMIN_SECRET])).toEqual([]);
    // The store still signs with the current secret (kept encrypted), and the answers were cached.
    expect((await hooks.endpointWithSecret(endpoint.id))?.secrets).toEqual([last.secret]);
    const idem = [...(await keyContents(h.redis, h.prefix)).entries()].filter(([k]) => k.startsWith(`${h.prefix}:idem:`));
    expect(idem).toHaveLength(4);
    for (const [, parts] of idem) expect(Buffer.concat(parts).toString()).toContain('"response_sealed":"v1.');
  });

  it('an answer sealed with another service key is not replayed: 409, and nothing is registered again', async () => {
    const json = { url: `${HOOK}/other-key`, events: ['job.failed'] };
    expect((await post('/v1/webhooks', json, 'reg-key-2')).status).toBe(201);
    const before = ((await (await h.fetch('/v1/webhooks')).json()) as { webhooks: unknown[] }).webhooks.length;
    // What a restart with another user_data_key finds: the record, sealed with the key it had.
    const recordKey = keys.idempotency(h.prefix, createHash('sha256').update('admin\nreg-key-2').digest('hex'));
    const { hash } = JSON.parse(String(await h.redis.get(recordKey))) as { hash: string };
    const other = new IdempotencyStore(h.redis, h.prefix, randomBytes(32).toString('base64'));
    await other.save('admin', 'reg-key-2', { hash, state: 'done', response: { status: 201, body: '{}', location: null } }, 60);
    const replay = await post('/v1/webhooks', json, 'reg-key-2');
    expect(replay.status).toBe(409);
    expect(((await replay.json()) as { error: { message: string } }).error.message).toMatch(/cannot be read/);
    expect(((await (await h.fetch('/v1/webhooks')).json()) as { webhooks: unknown[] }).webhooks).toHaveLength(before);
  });
});
