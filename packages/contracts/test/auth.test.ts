import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { identifyToken, scopesAllow, tokenByDigest } from '../src/auth.ts';
import { ConfigSchema } from '../src/config/schema.ts';

const FP = `SHA256:${'A'.repeat(43)}`;
const read = randomBytes(16).toString('hex');
const admin = randomBytes(16).toString('hex');
const config = ConfigSchema.parse({
  user_data_key: randomBytes(32).toString('base64'),
  tokens: [
    { name: 'prom', token: read, scopes: ['read'] },
    { name: 'root', token: admin, scopes: ['admin'] },
  ],
  regions: [
    {
      region_name: 'r1',
      hosts: [{ name: 'h1', address: '10.0.0.5', private_key_path: '/k', host_key_fingerprint: FP }],
      available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 64, storage_mb: 64 }],
    },
  ],
});

describe('the shared token check', () => {
  it('finds a token sent bare or as Bearer, with its SHA-256, and nothing else', () => {
    const digest = createHash('sha256').update(read).digest('hex');
    expect(identifyToken(config, read)).toEqual({ token: expect.objectContaining({ name: 'prom' }), digest });
    expect(identifyToken(config, `Bearer ${read}`)?.token.name).toBe('prom');
    expect(identifyToken(config, `bearer   ${admin} `)?.token.name).toBe('root');
    for (const h of [undefined, null, '', 'Bearer', `Bearer ${read}x`, read.slice(1), `Basic ${read}`]) expect(identifyToken(config, h)).toBeNull();
  });

  it('finds a token again by its digest only when it is one', () => {
    expect(tokenByDigest(config, createHash('sha256').update(admin).digest('hex'))?.name).toBe('root');
    expect(tokenByDigest(config, 'f'.repeat(64))).toBeNull();
    expect(tokenByDigest(config, 'not hex')).toBeNull();
  });

  it('lets admin hold every scope', () => {
    expect(scopesAllow(['admin'], 'write')).toBe(true);
    expect(scopesAllow(['read'], 'read')).toBe(true);
    expect(scopesAllow(['read'], 'write')).toBe(false);
  });
});
