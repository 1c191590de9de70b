/**
 * The configuration from the environment: the file's text (read by load.ts) parsed, then the environment
 * overrides (containers, the replaced service's env file) applied, then validated. Pure: a function of the
 * environment record and the file's contents.
 */
import { hkdfSync } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { IMAGE_NAME_RE } from '../names.ts';
import { fingerprintHelp } from './legacy.ts';
import { type Config, ConfigSchema, FINGERPRINT_RE, ImageSchema } from './schema.ts';

/** The environment as process.env holds it. */
export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

/**
 * The configuration: `text`, the file named by PROVISIONER_CONFIG (YAML, or JSON if its name ends .json),
 * then environment overrides
 * (PORT, WORKER_PORT, REDIS_URL, REDIS_SENTINELS/REDIS_MASTER_NAME/REDIS_CLUSTER_NODES/REDIS_PASSWORD, API_TOKEN, LOG_LEVEL, PROVISIONER_USER_DATA_KEY or USER_DATA_KEY, IMAGES, and
 * BAREMETAL_SERVER_CONFIGS with PROVISIONER_SSH_KEY_PATH and PROVISIONER_HOST_FINGERPRINTS for migration),
 * then the replaced service's env file (SSH_HOST, SSH_PORT, SSH_USER, SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED,
 * SSH_HOST_KEY_FINGERPRINT: see applyEnvFile).
 * Throws ConfigError naming every wrong field.
 */
export function configFromEnv(env: Env, text?: string): Config {
  let raw: Record<string, unknown> = {};
  const path = env.PROVISIONER_CONFIG ?? '';
  if (text !== undefined) {
    try {
      raw = (path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) ?? {};
    } catch (e) {
      throw new ConfigError(`PROVISIONER_CONFIG ${path} does not parse: ${(e as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`PROVISIONER_CONFIG ${path} must hold an object`);
  }
  const over: Record<string, unknown> = { ...raw };
  const num = (name: string, v: string) => {
    if (!/^\d+$/.test(v)) throw new ConfigError(`${name}: must be a number`);
    return Number(v);
  };
  if (env.PORT) over.port = num('PORT', env.PORT);
  if (env.REDIS_URL) over.redis_url = env.REDIS_URL;
  applyRedisEnv(over, raw, env);
  if (env.IMAGES) over.images = { ...(raw.images as object), ...imagesFromEnv(env.IMAGES) };
  if (env.LOG_LEVEL) over.log_level = env.LOG_LEVEL;
  if (env.RETENTION_SECONDS) over.retention_seconds = num('RETENTION_SECONDS', env.RETENTION_SECONDS);
  if (env.PROVISIONER_USER_DATA_KEY) over.user_data_key = env.PROVISIONER_USER_DATA_KEY;
  if (env.USER_DATA_KEY) over.user_data_key = env.USER_DATA_KEY;
  if (env.WORKER_PORT) over.worker = { ...(raw.worker as object), port: num('WORKER_PORT', env.WORKER_PORT) };
  if (env.API_TOKEN) over.tokens = [...((raw.tokens as unknown[]) ?? []), { name: 'env-admin', token: env.API_TOKEN, scopes: ['read', 'write', 'admin'] }];
  if (env.BAREMETAL_SERVER_CONFIGS) {
    try {
      over.baremetal_server_configs = JSON.parse(env.BAREMETAL_SERVER_CONFIGS);
    } catch {
      throw new ConfigError('BAREMETAL_SERVER_CONFIGS: not valid JSON');
    }
    if (env.PROVISIONER_SSH_KEY_PATH) over.ssh_private_key_path = env.PROVISIONER_SSH_KEY_PATH;
    if (env.PROVISIONER_HOST_FINGERPRINTS) {
      try {
        over.host_key_fingerprints = JSON.parse(env.PROVISIONER_HOST_FINGERPRINTS);
      } catch {
        throw new ConfigError('PROVISIONER_HOST_FINGERPRINTS: not valid JSON (an object of "host:port" → "SHA256:…")');
      }
    }
  }
  applyEnvFile(over, env, num);
  const parsed = ConfigSchema.safeParse(over);
  if (!parsed.success) throw new ConfigError(`invalid configuration: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

/**
 * The image catalog from IMAGES, so a deployment configured by environment alone (the replaced service's env
 * file) has images too: `name=url[#sha256]` entries separated by commas or whitespace, or a JSON object shaped
 * like the file's `images`. Entries are checked as the file's are, and add to (or replace) the file's catalog.
 */
function imagesFromEnv(v: string): Record<string, z.output<typeof ImageSchema>> {
  let entries: Array<[string, unknown]>;
  if (v.trim().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      throw new ConfigError('IMAGES: not valid JSON (an object of name → {"url": …, "sha256": …}; or name=url#sha256,… without JSON)');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new ConfigError('IMAGES: the JSON must be an object of name → {"url": …}');
    entries = Object.entries(parsed);
  } else {
    entries = v
      .split(/[\s,]+/)
      .filter(Boolean)
      .map((item) => {
        const m = /^([^=]+)=([^#]+)(?:#(.*))?$/.exec(item);
        if (!m?.[1] || !m[2]) throw new ConfigError(`IMAGES: "${item}" is not name=url or name=url#sha256`);
        return [m[1], { url: m[2], ...(m[3] !== undefined ? { sha256: m[3] } : {}) }];
      });
  }
  const out: Record<string, z.output<typeof ImageSchema>> = {};
  for (const [name, entry] of entries) {
    if (!IMAGE_NAME_RE.test(name)) throw new ConfigError(`IMAGES: "${name}" is not an image name (letters, digits, . _ -, at most 128)`);
    const r = ImageSchema.safeParse(entry);
    if (!r.success) throw new ConfigError(`IMAGES: ${name}: ${formatIssues(r.error)}`);
    out[name] = r.data;
  }
  return out;
}

/** `host:port,host:port` (REDIS_SENTINELS, REDIS_CLUSTER_NODES) as the `redis` settings' node lists. */
function hostPorts(name: string, v: string): Array<{ host: string; port: number }> {
  return v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => {
      const m = /^(.+):(\d{1,5})$/.exec(x);
      if (!m?.[1] || !m[2]) throw new ConfigError(`${name}: "${x}" is not host:port`);
      return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
    });
}

/**
 * Redis Sentinel or Cluster settings from the environment (containers): REDIS_SENTINELS with
 * REDIS_MASTER_NAME, or REDIS_CLUSTER_NODES, and REDIS_PASSWORD / REDIS_SENTINEL_PASSWORD. They replace
 * the file's `redis` node lists.
 */
function applyRedisEnv(over: Record<string, unknown>, raw: Record<string, unknown>, env: Env): void {
  const base = { ...((raw.redis as Record<string, unknown> | undefined) ?? {}) };
  let changed = false;
  if (env.REDIS_SENTINELS) {
    delete base.cluster;
    Object.assign(base, { sentinels: hostPorts('REDIS_SENTINELS', env.REDIS_SENTINELS) });
    changed = true;
  }
  if (env.REDIS_CLUSTER_NODES) {
    delete base.sentinels;
    Object.assign(base, { cluster: { nodes: hostPorts('REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES) } });
    changed = true;
  }
  for (const [k, field] of [
    ['REDIS_MASTER_NAME', 'name'],
    ['REDIS_PASSWORD', 'password'],
    ['REDIS_SENTINEL_PASSWORD', 'sentinel_password'],
  ] as const) {
    const v = env[k];
    if (v) {
      base[field] = v;
      changed = true;
    }
  }
  if (changed) over.redis = base;
}

/**
 * The replaced service's deployment, `docker run --env-file provisioner/secrets`: SSH_HOST, SSH_PORT,
 * SSH_USER, SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED (decoded here, kept in memory only) and
 * SSH_HOST_KEY_FINGERPRINT give one host; its region's name and instance types come from
 * BAREMETAL_SERVER_CONFIGS or from the one region of the file.
 */
function applyEnvFile(over: Record<string, unknown>, env: Env, num: (name: string, v: string) => number): void {
  if (env.SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED) over.ssh_private_key = decodePrivateKey(env.SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED);
  const key = typeof over.ssh_private_key === 'string' ? over.ssh_private_key : undefined;
  // API and worker must seal and open user-data with the same key: without one, derive it from the SSH key both are given.
  if (over.user_data_key === undefined && key) over.user_data_key = deriveUserDataKey(key);
  const legacy = Array.isArray(over.baremetal_server_configs) ? (over.baremetal_server_configs as Array<Record<string, unknown>>) : undefined;
  const fingerprints = (over.host_key_fingerprints ?? {}) as Record<string, unknown>;
  const fp = env.SSH_HOST_KEY_FINGERPRINT?.trim();
  const address = env.SSH_HOST;
  if (!address) {
    // The replaced service's own shape: the host in its one BAREMETAL_SERVER_CONFIGS entry.
    const only = legacy?.length === 1 ? legacy[0] : undefined;
    if (fp && only) over.host_key_fingerprints = { ...fingerprints, [`${only.host}:${only.port ?? 2222}`]: fp };
    return;
  }
  const port = env.SSH_PORT ? num('SSH_PORT', env.SSH_PORT) : undefined;
  const shownPort = port ?? 2222;
  if (!fp || !FINGERPRINT_RE.test(fp)) {
    throw new ConfigError(
      `SSH_HOST_KEY_FINGERPRINT ${fp ? 'is not a fingerprint (SHA256: and 43 base64 characters)' : 'is not set'}: the service pins the SSH host key of ${address}:${shownPort} and will not connect to it otherwise. To get it, ${fingerprintHelp(address, shownPort)}; then set SSH_HOST_KEY_FINGERPRINT=SHA256:… beside SSH_HOST.`,
    );
  }
  if (!key) throw new ConfigError('SSH_HOST is set but SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED is not (the private key, encoded with `base64 -w0 id_ed25519`)');
  if (legacy) {
    const i = legacy.length === 1 ? 0 : legacy.findIndex((e) => e?.host === address);
    const entry = legacy[i];
    if (!entry) throw new ConfigError(`SSH_HOST: BAREMETAL_SERVER_CONFIGS has ${legacy.length} entries and none with "host": "${address}"`);
    const p = port ?? (typeof entry.port === 'number' ? entry.port : 2222);
    legacy[i] = { ...entry, host: address, port: p, user: env.SSH_USER || entry.user || 'provisioner' };
    over.host_key_fingerprints = { ...fingerprints, [`${address}:${p}`]: fp };
    return;
  }
  const regions = Array.isArray(over.regions) ? (over.regions as Array<Record<string, unknown>>) : [];
  const region = regions[0];
  const hosts = Array.isArray(region?.hosts) ? (region.hosts as Array<Record<string, unknown>>) : [];
  if (!region || regions.length > 1 || hosts.length > 1) {
    throw new ConfigError(
      'SSH_HOST configures one host of one region: give that region (region_name, available_instance_types) in BAREMETAL_SERVER_CONFIGS, or as the only region of PROVISIONER_CONFIG with at most one host (whose name, network and limits it keeps)',
    );
  }
  // The file's one host, if any, keeps its name, network, directories and limits; the environment gives the connection.
  const { private_key_path: _path, ...template } = hosts[0] ?? {};
  const host = {
    ...template,
    name: template.name ?? 'host-1',
    address,
    port: port ?? template.port ?? 2222,
    user: env.SSH_USER || template.user || 'provisioner',
    private_key: key,
    host_key_fingerprint: fp,
  };
  over.regions = [{ ...region, hosts: [host] }];
}

function decodePrivateKey(encoded: string): string {
  const compact = encoded.replace(/\s+/g, '');
  const text = /^[A-Za-z0-9+/]+={0,2}$/.test(compact) ? Buffer.from(compact, 'base64').toString('utf8') : '';
  if (!/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----$/m.test(text)) {
    throw new ConfigError('SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED: not a base64-encoded private key (encode the key file with `base64 -w0 id_ed25519`)');
  }
  return text;
}

/** user_data_key for a deployment that sets none: 32 bytes derived (HKDF-SHA256) from the SSH private key. */
function deriveUserDataKey(privateKey: string): string {
  return Buffer.from(hkdfSync('sha256', privateKey, 'provisioner', 'user_data_key v1', 32)).toString('base64');
}
