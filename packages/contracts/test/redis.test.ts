/** Redis connection settings: Sentinel and Cluster in the file and the environment, and the client each gives. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/env.ts';
import { loadConfig } from '../src/config/load.ts';

const FP = `SHA256:${'A'.repeat(43)}`;
const base = {
  user_data_key: Buffer.alloc(32, 7).toString('base64'),
  regions: [
    {
      region_name: 'eu-1',
      available_instance_types: [{ instance_type: 'small', vcpus: 1, memory_mb: 512, storage_mb: 4096 }],
      hosts: [{ name: 'h1', address: '10.0.0.5', private_key_path: '/k', host_key_fingerprint: FP }],
    },
  ],
};
const dir = mkdtempSync(join(tmpdir(), 'cfg-redis-'));
const load = (extra: Record<string, unknown>, env: Record<string, string> = {}) => {
  const p = join(dir, `${Math.random()}.json`);
  writeFileSync(p, JSON.stringify({ ...base, ...extra }));
  return loadConfig({ PROVISIONER_CONFIG: p, ...env } as NodeJS.ProcessEnv);
};

describe('redis settings', () => {
  it('accepts sentinels with a master name, or cluster nodes, and says what is wrong otherwise', () => {
    expect(load({ redis: { sentinels: [{ host: 's1', port: 26379 }], name: 'mymaster' } }).redis).toEqual({
      sentinels: [{ host: 's1', port: 26379 }],
      name: 'mymaster',
    });
    expect(load({ redis: { cluster: { nodes: [{ host: 'n1', port: 7000 }] } } }).redis?.cluster?.nodes).toHaveLength(1);
    expect(() => load({ redis: { sentinels: [{ host: 's1', port: 26379 }] } })).toThrow(/redis\.name: the master name/);
    expect(() => load({ redis: { sentinels: [{ host: 's', port: 1 }], name: 'm', cluster: { nodes: [{ host: 'n', port: 2 }] } } })).toThrow(
      /sentinels or cluster, not both/,
    );
    expect(load({}).redis).toBeUndefined();
  });

  it('takes REDIS_SENTINELS / REDIS_MASTER_NAME / REDIS_CLUSTER_NODES / REDIS_PASSWORD from the environment', () => {
    const s = load({}, { REDIS_SENTINELS: 'sentinel-1:26379, sentinel-2:26379,[::1]:26380', REDIS_MASTER_NAME: 'main', REDIS_PASSWORD: 'pw' });
    expect(s.redis).toEqual({
      sentinels: [
        { host: 'sentinel-1', port: 26379 },
        { host: 'sentinel-2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'main',
      password: 'pw',
    });
    // The environment's cluster replaces the file's sentinels.
    const c = load({ redis: { sentinels: [{ host: 's', port: 1 }], name: 'm' } }, { REDIS_CLUSTER_NODES: 'n1:7000,n2:7001' });
    expect(c.redis).toEqual({
      name: 'm',
      cluster: {
        nodes: [
          { host: 'n1', port: 7000 },
          { host: 'n2', port: 7001 },
        ],
      },
    });
    expect(() => load({}, { REDIS_CLUSTER_NODES: 'n1' })).toThrow(ConfigError);
  });
});
