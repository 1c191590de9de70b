/** loadConfig: the file, environment overrides, the replaced service's region list, and errors that name the field. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from '../src/config/env.ts';
import { loadConfig } from '../src/config/load.ts';
import { configJsonSchemaText } from '../src/config/schema.ts';

const FP = `SHA256:${'A'.repeat(43)}`;
const KEY = Buffer.alloc(32, 7).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
const region = {
  region_name: 'eu-1',
  available_instance_types: [{ instance_type: 'small', vcpus: 1, memory_mb: 512, storage_mb: 4096 }],
  hosts: [{ name: 'h1', address: '10.0.0.5', private_key_path: '/k', host_key_fingerprint: FP }],
};
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const base = { user_data_key: KEY, regions: [region] };
const load = (env: Record<string, string>) => loadConfig(env as NodeJS.ProcessEnv);
const errorOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('is configFromEnv of the file it reads: the parsing and the overrides are pure, given the text', () => {
    const text = JSON.stringify(base);
    // The path only names the format (and appears in messages): nothing is read from it.
    const pure = configFromEnv({ PROVISIONER_CONFIG: join(dir, 'never-written.json'), PORT: '9000' }, text);
    expect(pure).toEqual(load({ PROVISIONER_CONFIG: file('same.json', text), PORT: '9000' }));
    expect(pure.port).toBe(9000);
    expect(errorOf(() => configFromEnv({ PROVISIONER_CONFIG: 'c.json' }, '[1]'))).toMatch(/must hold an object/);
    expect(errorOf(() => load({ PROVISIONER_CONFIG: join(dir, 'missing.json') }))).toMatch(/cannot read PROVISIONER_CONFIG/);
  });

  it('reads JSON and YAML files and fills defaults', () => {
    const json = load({ PROVISIONER_CONFIG: file('c.json', JSON.stringify(base)) });
    const yaml = load({
      PROVISIONER_CONFIG: file(
        'c.yaml',
        `user_data_key: ${KEY}\nregions:\n  - region_name: eu-1\n    available_instance_types: [{instance_type: small, vcpus: 1, memory_mb: 512, storage_mb: 4096}]\n    hosts: [{name: h1, address: 10.0.0.5, private_key_path: /k, host_key_fingerprint: "${FP}"}]\n`,
      ),
    });
    expect(yaml).toEqual(json);
    expect(json.port).toBe(8080);
    expect(json.regions[0]?.hosts[0]).toMatchObject({ port: 2222, user: 'provisioner', max_concurrent_operations: 4, network: 'network:default' });
  });

  it('lets PORT, REDIS_URL, LOG_LEVEL and API_TOKEN override the file', () => {
    const c = load({
      PROVISIONER_CONFIG: file('o.json', JSON.stringify({ ...base, port: 1, tokens: [{ name: 'ro', token: 'r'.repeat(20), scopes: ['read'] }] })),
      PORT: '9999',
      REDIS_URL: 'redis://redis.example:6380/2',
      LOG_LEVEL: 'debug',
      API_TOKEN: 'a'.repeat(32),
    });
    expect(c.port).toBe(9999);
    expect(c.redis_url).toBe('redis://redis.example:6380/2');
    expect(c.log_level).toBe('debug');
    expect(c.tokens.map((t) => [t.name, t.scopes])).toEqual([
      ['ro', ['read']],
      ['env-admin', ['read', 'write', 'admin']],
    ]);
  });

  it('keeps finished jobs 7 days and 10 000 per queue by default; retention_seconds and RETENTION_SECONDS change it', () => {
    const path = file('r.json', JSON.stringify(base));
    expect(load({ PROVISIONER_CONFIG: path })).toMatchObject({ retention_seconds: 7 * 86_400, retention_max_jobs: 10_000 });
    const set = file('r2.json', JSON.stringify({ ...base, retention_seconds: 86_400, retention_max_jobs: 500 }));
    expect(load({ PROVISIONER_CONFIG: set })).toMatchObject({ retention_seconds: 86_400, retention_max_jobs: 500 });
    expect(load({ PROVISIONER_CONFIG: set, RETENTION_SECONDS: '3600' }).retention_seconds).toBe(3600);
    expect(errorOf(() => load({ PROVISIONER_CONFIG: path, RETENTION_SECONDS: '7d' }))).toMatch(/RETENTION_SECONDS/);
    expect(errorOf(() => load({ PROVISIONER_CONFIG: path, RETENTION_SECONDS: '10' }))).toMatch(/retention_seconds/);
  });

  it('accepts the replaced service’s BAREMETAL_SERVER_CONFIGS as regions, with the key and fingerprints beside it', () => {
    const legacy = [
      { user: 'ops', host: '100.64.1.2', port: 2222, region_name: 'us-east', enabled: true, available_instance_types: region.available_instance_types },
    ];
    const c = load({
      PROVISIONER_CONFIG: file('m.json', JSON.stringify({ user_data_key: KEY })),
      BAREMETAL_SERVER_CONFIGS: JSON.stringify(legacy),
      PROVISIONER_SSH_KEY_PATH: '/keys/id_ed25519',
      PROVISIONER_HOST_FINGERPRINTS: JSON.stringify({ '100.64.1.2:2222': FP }),
    });
    expect(c.regions).toHaveLength(1);
    expect(c.regions[0]).toMatchObject({ region_name: 'us-east', enabled: true });
    expect(c.regions[0]?.hosts[0]).toMatchObject({
      address: '100.64.1.2',
      port: 2222,
      user: 'ops',
      private_key_path: '/keys/id_ed25519',
      host_key_fingerprint: FP,
    });
    expect(
      errorOf(() => load({ PROVISIONER_CONFIG: file('m2.json', JSON.stringify({ user_data_key: KEY })), BAREMETAL_SERVER_CONFIGS: JSON.stringify(legacy) })),
    ).toMatch(/baremetal_server_configs\.0: needs ssh_private_key_path and host_key_fingerprints/);
    expect(errorOf(() => load({ BAREMETAL_SERVER_CONFIGS: '[{' }))).toMatch(/BAREMETAL_SERVER_CONFIGS: not valid JSON/);
  });

  it.each([
    ['a bad port', { ...base, port: 'x' }, /port/],
    [
      'a host without fingerprint',
      { ...base, regions: [{ ...region, hosts: [{ ...region.hosts[0], host_key_fingerprint: 'md5:xx' }] }] },
      /regions\.0\.hosts\.0\.host_key_fingerprint/,
    ],
    ['a short token', { ...base, tokens: [{ name: 'x', token: 'short', scopes: ['read'] }] }, /tokens\.0\.token: tokens must be at least 16 characters/],
    ['an unknown scope', { ...base, tokens: [{ name: 'x', token: 'x'.repeat(20), scopes: ['root'] }] }, /tokens\.0\.scopes\.0/],
    ['a bad user-data key', { ...base, user_data_key: 'abc' }, /user_data_key: must be 32 bytes/],
    ['an image that is not http(s)', { ...base, images: { tiny: { url: 'file:///etc/passwd' } } }, /images\.tiny\.url/],
  ])('refuses %s and names the field', (_label, cfg, field) => {
    expect(errorOf(() => load({ PROVISIONER_CONFIG: file('bad.json', JSON.stringify(cfg)) }))).toMatch(field);
  });

  it('refuses two tokens with one name or one value (a read token named like an admin one would sign in as admin)', () => {
    const admin = { name: 'ops', token: 'a'.repeat(24), scopes: ['admin'] };
    const yaml = (tokens: Array<{ name: string; token: string; scopes: string[] }>) =>
      `user_data_key: ${KEY}\nregions: ${JSON.stringify([region])}\ntokens:\n${tokens
        .map((t) => `  - {name: ${t.name}, token: ${t.token}, scopes: [${t.scopes.join(', ')}]}`)
        .join('\n')}\n`;
    expect(errorOf(() => load({ PROVISIONER_CONFIG: file('dup-name.yaml', yaml([admin, { name: 'ops', token: 'r'.repeat(24), scopes: ['read'] }])) }))).toMatch(
      /tokens\.1\.name: duplicate token name 'ops'/,
    );
    expect(errorOf(() => load({ PROVISIONER_CONFIG: file('dup-value.yaml', yaml([admin, { name: 'ro', token: 'a'.repeat(24), scopes: ['read'] }])) }))).toMatch(
      /tokens\.1\.token: the same token value as an earlier token/,
    );
    // API_TOKEN adds env-admin beside the file's tokens: neither its name nor its value may be taken already.
    const ro = { name: 'env-admin', token: 'r'.repeat(24), scopes: ['read'] };
    expect(errorOf(() => load({ PROVISIONER_CONFIG: file('dup-env.yaml', yaml([ro])), API_TOKEN: 'e'.repeat(24) }))).toMatch(
      /tokens\.1\.name: duplicate token name 'env-admin' \(API_TOKEN adds the token env-admin\)/,
    );
    expect(errorOf(() => load({ PROVISIONER_CONFIG: file('dup-env-value.yaml', yaml([admin])), API_TOKEN: admin.token }))).toMatch(
      /tokens\.1\.token: the same token value as an earlier token/,
    );
    expect(load({ PROVISIONER_CONFIG: file('ok.yaml', yaml([admin, { name: 'ro', token: 'r'.repeat(24), scopes: ['read'] }])) }).tokens).toHaveLength(2);
  });

  it("takes a token's previous webhook_secret during a rotation only with the new one and the time it stops signing", () => {
    const now = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    const old = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
    const cfg = (t: Record<string, unknown>) =>
      file(`rot-${Math.random()}.json`, JSON.stringify({ ...base, tokens: [{ name: 'ci', token: 'c'.repeat(24), scopes: ['write'], ...t }] }));
    const ok = load({ PROVISIONER_CONFIG: cfg({ webhook_secret: now, webhook_secret_previous: old, webhook_secret_previous_until: '2026-12-08T00:00:00Z' }) });
    expect(ok.tokens[0]).toMatchObject({ webhook_secret: now, webhook_secret_previous: old, webhook_secret_previous_until: '2026-12-08T00:00:00Z' });
    expect(errorOf(() => load({ PROVISIONER_CONFIG: cfg({ webhook_secret: now, webhook_secret_previous: old }) }))).toMatch(
      /tokens\.0\.webhook_secret_previous_until: webhook_secret_previous needs/,
    );
    expect(errorOf(() => load({ PROVISIONER_CONFIG: cfg({ webhook_secret_previous: old, webhook_secret_previous_until: '2026-12-08T00:00:00Z' }) }))).toMatch(
      /webhook_secret_previous_until/,
    );
    expect(
      errorOf(() => load({ PROVISIONER_CONFIG: cfg({ webhook_secret: now, webhook_secret_previous: old, webhook_secret_previous_until: 'next week' }) })),
    ).toMatch(/tokens\.0\.webhook_secret_previous_until: an ISO 8601 date/);
    // A secret never shows up in the message.
    expect(errorOf(() => load({ PROVISIONER_CONFIG: cfg({ webhook_secret: now, webhook_secret_previous: old }) }))).not.toContain(old.slice(6));
  });

  it('takes auth_throttle and trusted_proxies, with defaults, and refuses a trusted proxy that is not a CIDR', () => {
    const c = load({ PROVISIONER_CONFIG: file('thr.json', JSON.stringify(base)) });
    expect(c.auth_throttle).toEqual({ max_failures: 20, window_seconds: 300, ipv6_prefix_length: 64 });
    expect(c.trusted_proxies).toEqual([]);
    const set = load({
      PROVISIONER_CONFIG: file('thr2.json', JSON.stringify({ ...base, auth_throttle: { max_failures: 5 }, trusted_proxies: ['10.0.0.0/8', 'fd00::/8'] })),
    });
    expect(set.auth_throttle).toEqual({ max_failures: 5, window_seconds: 300, ipv6_prefix_length: 64 });
    expect(set.trusted_proxies).toEqual(['10.0.0.0/8', 'fd00::/8']);
    expect(errorOf(() => load({ PROVISIONER_CONFIG: file('thr3.json', JSON.stringify({ ...base, trusted_proxies: ['10.0.0.1'] })) }))).toMatch(
      /trusted_proxies\.0/,
    );
    expect(errorOf(() => load({ PROVISIONER_CONFIG: file('thr4.json', JSON.stringify({ ...base, auth_throttle: { max_failures: 0 } })) }))).toMatch(
      /auth_throttle\.max_failures/,
    );
    const v6 = (n: unknown, name: string) => load({ PROVISIONER_CONFIG: file(name, JSON.stringify({ ...base, auth_throttle: { ipv6_prefix_length: n } })) });
    expect(v6(48, 'thr5.json').auth_throttle.ipv6_prefix_length).toBe(48);
    expect(v6(128, 'thr6.json').auth_throttle.ipv6_prefix_length).toBe(128);
    // Shorter than a /32 would count a whole provider's customers as one client; longer than 128 is no prefix.
    for (const [n, name] of [
      [16, 'thr7.json'],
      [129, 'thr8.json'],
      [64.5, 'thr9.json'],
      ['64', 'thr10.json'],
    ] as const) {
      expect(errorOf(() => v6(n, name))).toMatch(/auth_throttle\.ipv6_prefix_length/);
    }
  });

  it('binds the worker port on every interface unless worker.bind_address says otherwise, and refuses a non-address', () => {
    expect(load({ PROVISIONER_CONFIG: file('b1.json', JSON.stringify(base)) }).worker.bind_address).toBe('0.0.0.0');
    const set = load({ PROVISIONER_CONFIG: file('b2.json', JSON.stringify({ ...base, worker: { bind_address: '127.0.0.1' } })) });
    expect(set.worker.bind_address).toBe('127.0.0.1');
    expect(errorOf(() => load({ PROVISIONER_CONFIG: file('b3.json', JSON.stringify({ ...base, worker: { bind_address: 'localhost; id' } })) }))).toMatch(
      /worker\.bind_address/,
    );
  });

  it('refuses an unreadable or unparsable file, and a non-numeric PORT', () => {
    expect(errorOf(() => load({ PROVISIONER_CONFIG: join(dir, 'missing.yaml') }))).toMatch(/cannot read PROVISIONER_CONFIG/);
    expect(errorOf(() => load({ PROVISIONER_CONFIG: file('broken.yaml', 'a: [unclosed') }))).toMatch(/does not parse/);
    expect(errorOf(() => load({ PROVISIONER_CONFIG: file('p.json', JSON.stringify(base)), PORT: '80; rm' }))).toMatch(/PORT: must be a number/);
  });

  it('docs/config.schema.json is up to date (run `npm run config-schema` after changing the schema)', () => {
    expect(readFileSync(new URL('../../../docs/config.schema.json', import.meta.url), 'utf8')).toBe(configJsonSchemaText());
  });
});
