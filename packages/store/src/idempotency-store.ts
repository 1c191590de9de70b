/**
 * Idempotency-Key records: the first request with a key claims it (atomically, for a short while), then
 * records the job it submitted and the answer it gave, which replays of the same request get back. The
 * caller's token name and the key are hashed together into the Redis key, so neither is stored as is and
 * two callers never share a key.
 *
 * Answers are kept sealed (AES-256-GCM with the service's `user_data_key`, bound to the record's Redis
 * key): some carry a secret (a webhook endpoint's, answered once by its registration or rotation), and no
 * secret rests in Redis in plain text. A replay by the same caller with the same request still gets the
 * answer the first request got, secret included, as a client that lost the first answer needs.
 *
 * @example
 * const store = new IdempotencyStore(redis, prefix, config.user_data_key);
 * const held = await store.claim('ci', key, requestHash, 60); // null: ours now; else the record to replay
 * await store.save('ci', key, { hash: requestHash, state: 'job', job_id }, ttl);
 */
import { createHash } from 'node:crypto';
import { decryptUserData, encryptUserData } from '@provisioner/contracts';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { runScript } from './scripts.ts';

export interface StoredResponse {
  status: number;
  body: string;
  location: string | null;
}

export interface IdempotencyRecord {
  /** Hash of the request (method, path, caller, canonical body): the same key with another request is refused. */
  hash: string;
  state: 'pending' | 'job' | 'done';
  job_id?: string;
  /** For a legacy route whose outcome was not known yet: how long to wait for it on replay. */
  wait_ms?: number;
  response?: StoredResponse;
  /** The answer was recorded but cannot be opened (the service's key changed since): it cannot be replayed. */
  unreadable?: true;
}

/** As Redis holds a record: the answer sealed. */
interface SealedRecord extends Omit<IdempotencyRecord, 'response' | 'unreadable'> {
  /** `v1.…`: the answer's JSON, AES-256-GCM. */
  response_sealed?: string;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** The service's key for data at rest (`user_data_key`, base64). */
    private readonly sealKey: string,
  ) {}

  private key(caller: string, key: string): string {
    return keys.idempotency(this.prefix, sha256(`${caller}\n${key}`));
  }

  /**
   * Claims `caller`'s `key` for the request whose hash is `hash` for `pendingTtlS` seconds (a claim whose
   * request dies lapses then). Returns null when the claim is ours, else the record already there (an
   * unreadable one reads as another request's, so it is refused rather than overwritten).
   */
  async claim(caller: string, key: string, hash: string, pendingTtlS: number): Promise<IdempotencyRecord | null> {
    const pending: IdempotencyRecord = { hash, state: 'pending' };
    const held = await runScript<string | null>(this.redis, 'idempotencyClaim', [this.key(caller, key)], [JSON.stringify(pending), pendingTtlS]);
    if (held === null) return null;
    let stored: SealedRecord;
    try {
      stored = JSON.parse(held) as SealedRecord;
    } catch {
      return { hash: '', state: 'done' };
    }
    const { response_sealed, ...rec } = stored;
    if (response_sealed === undefined) return rec;
    try {
      return { ...rec, response: JSON.parse(decryptUserData(response_sealed, this.sealKey, this.key(caller, key))) as StoredResponse };
    } catch {
      return { ...rec, unreadable: true };
    }
  }

  /** Records what the claimed request did (its answer sealed), kept `ttlS` seconds. */
  async save(caller: string, key: string, rec: IdempotencyRecord, ttlS: number): Promise<void> {
    const redisKey = this.key(caller, key);
    const { response, unreadable: _u, ...rest } = rec;
    const stored: SealedRecord = response ? { ...rest, response_sealed: encryptUserData(JSON.stringify(response), this.sealKey, redisKey) } : rest;
    await this.redis.set(redisKey, JSON.stringify(stored), 'EX', ttlS);
  }

  /** Frees the key (the request submitted nothing), so it can be used again at once. */
  async release(caller: string, key: string): Promise<void> {
    await this.redis.del(this.key(caller, key));
  }
}
