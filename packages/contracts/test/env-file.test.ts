/**
 * The replaced service's env-file deployment (`docker run --env-file provisioner/secrets`): SSH_* variables
 * configure one host, its key held in memory; a missing fingerprint refuses to start with guidance.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/env.ts';
import { loadConfig } from '../src/config/load.ts';
import { Secret } from '../src/secret.ts';

const FP = `SHA256:${'B'.repeat(43)}`;
const PEM = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const B64 = Buffer.from(PEM).toString('base64');
const types = [{ instance_type: 'small', vcpus: 1, memory_mb: 512, storage_mb: 4096 }];
const legacy = (...hosts: string[]) =>
  JSON.stringify(hosts.map((host, i) => ({ user: 'old', host, port: 22, region_name: `r${i + 1}`, enabled: true, available_instance_types: types })));
const dir = mkdtempSync(join(tmpdir(), 'envcfg-'));
const file = (name: string, content: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(content));
  return p;
};
const secrets = { API_TOKEN: 't'.repeat(24), SSH_HOST: '100.64.0.7', SSH_PORT: '2222', SSH_USER: 'provisioner', SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED: B64 };
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

describe('env-file configuration', () => {
  it('configures one region with one host from SSH_* and BAREMETAL_SERVER_CONFIGS, the key in memory and never serialized', () => {
    const c = load({ ...secrets, SSH_HOST_KEY_FINGERPRINT: FP, BAREMETAL_SERVER_CONFIGS: legacy('old-name') });
    expect(c.regions).toHaveLength(1);
    expect(c.regions[0]).toMatchObject({ region_name: 'r1', available_instance_types: types });
    const host = c.regions[0]?.hosts[0];
    expect(host).toMatchObject({ name: 'host-1', address: '100.64.0.7', port: 2222, user: 'provisioner', host_key_fingerprint: FP });
    expect(host?.private_key_path).toBeUndefined();
    expect(host?.private_key).toBeInstanceOf(Secret);
    expect(host?.private_key?.reveal()).toBe(PEM);
    expect(c.tokens.map((t) => t.name)).toEqual(['env-admin']);
    const body = PEM.split('\n')[1] ?? '';
    for (const shown of [JSON.stringify(c), inspect(c, { depth: 10 }), String(host?.private_key)]) {
      expect(shown).not.toContain(body);
      expect(shown).not.toContain(B64.slice(0, 40));
    }
    expect(JSON.stringify(host)).toContain('"private_key":"[redacted]"');
  });

  it('derives a stable user_data_key from the SSH key unless USER_DATA_KEY is set', () => {
    const env = { ...secrets, SSH_HOST_KEY_FINGERPRINT: FP, BAREMETAL_SERVER_CONFIGS: legacy('x') };
    const a = load(env).user_data_key;
    expect(Buffer.from(a, 'base64')).toHaveLength(32);
    expect(load(env).user_data_key).toBe(a);
    const other = Buffer.from(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()).toString('base64');
    expect(load({ ...env, SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED: other }).user_data_key).not.toBe(a);
    const mine = Buffer.alloc(32, 9).toString('base64');
    expect(load({ ...env, USER_DATA_KEY: mine }).user_data_key).toBe(mine);
  });

  it('takes the region from the file instead, keeping its one host’s name, network and limits', () => {
    const cfg = file('one.json', {
      queue_prefix: '{envtest}',
      regions: [
        {
          region_name: 'eu-1',
          available_instance_types: types,
          hosts: [{ name: 'node-1', network: 'none', max_concurrent_operations: 2, private_key_path: '/x' }],
        },
      ],
    });
    const c = load({ ...secrets, SSH_HOST_KEY_FINGERPRINT: FP, PROVISIONER_CONFIG: cfg, WORKER_PORT: '0' });
    expect(c.queue_prefix).toBe('{envtest}');
    expect(c.worker.port).toBe(0);
    expect(c.regions[0]?.hosts).toHaveLength(1);
    expect(c.regions[0]?.hosts[0]).toMatchObject({
      name: 'node-1',
      network: 'none',
      max_concurrent_operations: 2,
      address: '100.64.0.7',
      host_key_fingerprint: FP,
    });
    expect(c.regions[0]?.hosts[0]?.private_key_path).toBeUndefined();
    const bare = load({
      ...secrets,
      SSH_HOST_KEY_FINGERPRINT: FP,
      PROVISIONER_CONFIG: file('bare.json', { regions: [{ region_name: 'eu-1', available_instance_types: types }] }),
    });
    expect(bare.regions[0]?.hosts[0]).toMatchObject({ name: 'host-1', network: 'network:default' });
  });

  it('matches SSH_HOST to its BAREMETAL_SERVER_CONFIGS entry when there are several', () => {
    const c = load({
      ...secrets,
      SSH_HOST: '10.0.0.2',
      SSH_HOST_KEY_FINGERPRINT: FP,
      BAREMETAL_SERVER_CONFIGS: legacy('10.0.0.1', '10.0.0.2'),
      PROVISIONER_HOST_FINGERPRINTS: JSON.stringify({ '10.0.0.1:22': `SHA256:${'C'.repeat(43)}` }),
    });
    expect(c.regions.map((r) => [r.region_name, r.hosts[0]?.address, r.hosts[0]?.port, r.hosts[0]?.host_key_fingerprint])).toEqual([
      ['r1', '10.0.0.1', 22, `SHA256:${'C'.repeat(43)}`],
      ['r2', '10.0.0.2', 2222, FP],
    ]);
    expect(errorOf(() => load({ ...secrets, SSH_HOST_KEY_FINGERPRINT: FP, BAREMETAL_SERVER_CONFIGS: legacy('10.0.0.1', '10.0.0.2') }))).toMatch(
      /SSH_HOST: BAREMETAL_SERVER_CONFIGS has 2 entries and none with "host": "100.64.0.7"/,
    );
  });

  it('accepts the replaced service’s own shape: the host in its one BAREMETAL_SERVER_CONFIGS entry', () => {
    const c = load({
      API_TOKEN: secrets.API_TOKEN,
      SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED: B64,
      SSH_HOST_KEY_FINGERPRINT: FP,
      BAREMETAL_SERVER_CONFIGS: legacy('10.9.9.9'),
    });
    expect(c.regions[0]?.hosts[0]).toMatchObject({ address: '10.9.9.9', port: 22, user: 'old', host_key_fingerprint: FP });
    expect(c.regions[0]?.hosts[0]?.private_key?.reveal()).toBe(PEM);
  });

  it.each([
    ['missing', {}],
    ['empty', { SSH_HOST_KEY_FINGERPRINT: '' }],
    ['not a fingerprint', { SSH_HOST_KEY_FINGERPRINT: 'MD5:aa:bb' }],
  ])('refuses to start when the fingerprint is %s, giving the exact commands to print it', (_label, extra) => {
    const message = errorOf(() => load({ ...secrets, BAREMETAL_SERVER_CONFIGS: legacy('x'), ...extra }));
    expect(message).toMatch(/^SSH_HOST_KEY_FINGERPRINT (is not set|is not a fingerprint)/);
    expect(message).toContain('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub');
    expect(message).toContain('ssh-keyscan -t ed25519 -p 2222 100.64.0.7 | ssh-keygen -lf -');
  });

  it('refuses a legacy entry without a fingerprint with the same guidance', () => {
    const message = errorOf(() =>
      load({
        SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED: B64,
        BAREMETAL_SERVER_CONFIGS: legacy('10.0.0.1', '10.0.0.2'),
        USER_DATA_KEY: Buffer.alloc(32).toString('base64'),
      }),
    );
    expect(message).toContain('baremetal_server_configs.0: needs ssh_private_key_path and host_key_fingerprints["10.0.0.1:22"]');
    expect(message).toContain('ssh-keyscan -t ed25519 -p 22 10.0.0.1 | ssh-keygen -lf -');
  });

  it('refuses a key that is not base64 of a private key, without echoing it', () => {
    const notKey = Buffer.from('hello world, not a key').toString('base64');
    for (const bad of [notKey, 'not base64 at all!', PEM]) {
      const message = errorOf(() =>
        load({ ...secrets, SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED: bad, SSH_HOST_KEY_FINGERPRINT: FP, BAREMETAL_SERVER_CONFIGS: legacy('x') }),
      );
      expect(message).toMatch(/^SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED: not a base64-encoded private key/);
      expect(message).not.toContain(bad.slice(0, 12));
    }
    const { SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED: _k, ...noKey } = secrets;
    expect(errorOf(() => load({ ...noKey, SSH_HOST_KEY_FINGERPRINT: FP, BAREMETAL_SERVER_CONFIGS: legacy('x') }))).toMatch(
      /SSH_HOST is set but SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED is not/,
    );
  });

  it('refuses SSH_HOST without exactly one region to put it in', () => {
    const two = file('two.json', {
      regions: ['a', 'b'].map((n) => ({
        region_name: n,
        available_instance_types: types,
        hosts: [{ name: 'h', address: 'x', private_key_path: '/k', host_key_fingerprint: FP }],
      })),
    });
    for (const env of [{ PROVISIONER_CONFIG: two }, {}] as Array<Record<string, string>>) {
      expect(errorOf(() => load({ ...secrets, SSH_HOST_KEY_FINGERPRINT: FP, ...env }))).toMatch(/SSH_HOST configures one host of one region/);
    }
  });

  it('wants exactly one of private_key_path and private_key on a host', () => {
    const host = { name: 'h1', address: 'x', host_key_fingerprint: FP };
    const cfg = (h: object) =>
      file('k.json', { user_data_key: Buffer.alloc(32).toString('base64'), regions: [{ region_name: 'a', available_instance_types: types, hosts: [h] }] });
    expect(load({ PROVISIONER_CONFIG: cfg({ ...host, private_key: PEM }) }).regions[0]?.hosts[0]?.private_key?.reveal()).toBe(PEM);
    for (const h of [host, { ...host, private_key: PEM, private_key_path: '/k' }]) {
      expect(errorOf(() => load({ PROVISIONER_CONFIG: cfg(h) }))).toMatch(
        /regions\.0\.hosts\.0\.private_key_path: give exactly one of private_key_path and private_key/,
      );
    }
  });

  it('declares the image catalog with IMAGES, so the five variables alone need no file', () => {
    const sha = 'a'.repeat(64);
    const env = { ...secrets, SSH_HOST_KEY_FINGERPRINT: FP, BAREMETAL_SERVER_CONFIGS: legacy('x') };
    expect(load(env).images).toEqual({});
    // name=url[#sha256], separated by commas or whitespace (an env file line holds no quotes).
    const listed = load({
      ...env,
      IMAGES: `debian-12=https://img.example/debian-12.qcow2#${sha}, v0.76.0=http://img.example/v0.76.0.qcow2\ntiny=https://x/t.qcow2`,
    });
    expect(listed.images).toEqual({
      'debian-12': { url: 'https://img.example/debian-12.qcow2', sha256: sha },
      'v0.76.0': { url: 'http://img.example/v0.76.0.qcow2' },
      tiny: { url: 'https://x/t.qcow2' },
    });
    // Or the file's shape as JSON.
    const json = load({ ...env, IMAGES: JSON.stringify({ tiny: { url: 'https://x/t.qcow2', sha256: sha } }) });
    expect(json.images).toEqual({ tiny: { url: 'https://x/t.qcow2', sha256: sha } });
    // Beside a file: added to its catalog, a same-named entry replaced.
    const cfg = file('images.json', {
      regions: [{ region_name: 'eu-1', available_instance_types: types }],
      images: { a: { url: 'https://x/a' }, tiny: { url: 'https://x/old' } },
    });
    expect(load({ ...secrets, SSH_HOST_KEY_FINGERPRINT: FP, PROVISIONER_CONFIG: cfg, IMAGES: 'tiny=https://x/new' }).images).toEqual({
      a: { url: 'https://x/a' },
      tiny: { url: 'https://x/new' },
    });
  });

  it.each([
    ['tiny', /IMAGES: "tiny" is not name=url or name=url#sha256/],
    ['tiny=ftp://x/t.qcow2', /IMAGES: tiny: url: an http\(s\) URL/],
    ['tiny=https://x/t.qcow2#abc', /IMAGES: tiny: sha256: /],
    ['-bad=https://x/t.qcow2', /IMAGES: "-bad" is not an image name/],
    ['{"tiny": ', /IMAGES: not valid JSON/],
    ['{"tiny": {"sha256": "x"}}', /IMAGES: tiny: url: /],
  ])('refuses IMAGES=%s naming the variable and the entry', (value, message) => {
    expect(errorOf(() => load({ ...secrets, SSH_HOST_KEY_FINGERPRINT: FP, BAREMETAL_SERVER_CONFIGS: legacy('x'), IMAGES: value }))).toMatch(message);
  });
});
