/**
 * The service's configuration: one validated file (YAML or JSON) named by PROVISIONER_CONFIG, with a
 * few environment overrides. Parsed once, at each entry point. The JSON Schema in
 * docs/config.schema.json is generated from this zod schema (`npm run config-schema`).
 */
import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DNS_LABEL_RE, IMAGE_NAME_RE, isTagValue, NET_NAME_RE, SHA256_RE } from './names.ts';
import { Secret } from './secret.ts';

const FINGERPRINT_RE = /^SHA256:[A-Za-z0-9+/]{43}$/;

export const InstanceTypeSchema = z.object({
  instance_type: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  vcpus: z.number().int().positive().max(512),
  memory_mb: z.number().int().positive(),
  storage_mb: z.number().int().positive(),
});

export const HostSchema = z
  .object({
    /** Unique within its region; part of queue names and of the VM listing. */
    name: z.string().regex(DNS_LABEL_RE, 'a lowercase DNS label'),
    address: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(2222),
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/)
      .default('provisioner'),
    /** The SSH private key: a file's path, or `private_key`, the key itself held in memory (exactly one). */
    private_key_path: z.string().min(1).optional(),
    private_key: z
      .string()
      .min(1)
      .transform((k) => new Secret(k))
      .optional(),
    /** Pinned SSH host key(s), as `ssh-keygen -lf` prints them (install-server.sh prints it too). */
    host_key_fingerprint: z.union([z.string().regex(FINGERPRINT_RE), z.array(z.string().regex(FINGERPRINT_RE)).min(1)]),
    /** `none`, `network:NAME` (a libvirt network) or `bridge:NAME`. */
    network: z
      .string()
      .regex(new RegExp(`^(none|(network|bridge):${NET_NAME_RE.source.slice(1, -1)})$`), 'none, network:NAME or bridge:NAME')
      .default('network:default'),
    max_concurrent_operations: z.number().int().positive().max(256).default(4),
    images_dir: z.string().startsWith('/').default('/var/lib/provisioner/images'),
    disks_dir: z.string().startsWith('/').default('/var/lib/provisioner/disks'),
    libvirt_uri: z.string().default('qemu:///system'),
    domain_type: z.enum(['auto', 'kvm', 'qemu']).default('auto'),
    /** Kept back from placement: vCPUs and memory for the host itself, disk space in images_dir. */
    reserved_vcpus: z.number().int().min(0).default(0),
    reserved_memory_mb: z.number().int().min(0).default(0),
    reserved_disk_mb: z.number().int().min(0).default(0),
    /** Optional cap on VMs placed on this host (inventory plus accepted creates). */
    max_vms: z.number().int().min(0).optional(),
  })
  .refine((h) => (h.private_key_path === undefined) !== (h.private_key === undefined), {
    path: ['private_key_path'],
    message: 'give exactly one of private_key_path and private_key',
  });

export const RegionSchema = z.object({
  region_name: z.string().regex(DNS_LABEL_RE, 'a lowercase DNS label'),
  enabled: z.boolean().default(true),
  hosts: z.array(HostSchema).min(1),
  available_instance_types: z.array(InstanceTypeSchema).min(1),
  /** Optional cap on VMs in the region (inventory plus accepted creates); a create beyond it is 409. */
  max_vms: z.number().int().positive().optional(),
});

export const ImageSchema = z.object({
  url: z.string().regex(/^https?:\/\/[^\s]+$/, 'an http(s) URL'),
  sha256: z.string().regex(SHA256_RE).optional(),
});

export const ScopeSchema = z.enum(['read', 'write', 'admin']);
export type Scope = z.infer<typeof ScopeSchema>;

export const TokenSchema = z.object({
  /** Shown in logs and job views instead of the token. */
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  token: z.string().min(16, 'tokens must be at least 16 characters'),
  scopes: z.array(ScopeSchema).min(1),
  /** Signs the deliveries to the `webhook_url` of this token's jobs (`whsec_` + base64); never shown anywhere. */
  webhook_secret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/, 'whsec_ followed by at least 24 bytes, base64')
    .optional(),
  /** Binds the token to one owner: it sees and acts on only VMs and jobs whose `owner` tag is this. */
  owner: z.string().min(1).refine(isTagValue, 'a tag value: at most 1024 characters, no control characters, nothing XML cannot hold').optional(),
  /** At most `requests` requests per `per_seconds` window for this token (429 + Retry-After beyond). */
  rate_limit: z.object({ requests: z.number().int().positive(), per_seconds: z.number().int().positive().max(86_400) }).optional(),
});

/** The replaced service's BAREMETAL_SERVER_CONFIGS entries, accepted for migration. */
export const LegacyRegionSchema = z.object({
  user: z.string(),
  host: z.string(),
  port: z.number().int().default(2222),
  region_name: z.string().regex(DNS_LABEL_RE),
  enabled: z.boolean().default(true),
  available_instance_types: z.array(InstanceTypeSchema).min(1),
});

const WorkerSchema = z
  .object({
    /** Port of each worker process's /health (open) and /metrics (a read token). */
    port: z.number().int().min(0).max(65535).default(8081),
    /** Address that port listens on: every interface by default; 127.0.0.1 keeps it to this machine. */
    bind_address: z
      .string()
      .refine((a) => isIP(a) !== 0, 'an IP address such as 0.0.0.0 or 127.0.0.1')
      .default('0.0.0.0'),
    /** How often each host's inventory is refreshed even when nothing happens. */
    inventory_refresh_ms: z.number().int().positive().default(60_000),
    /** Attempts per job (retryable failures only) and the base of the exponential backoff. */
    attempts: z.number().int().positive().max(50).default(5),
    backoff_ms: z.number().int().positive().default(2_000),
    /** Graceful-shutdown timeout of `stop` when the request gives none. */
    stop_timeout_ms: z.number().int().positive().default(60_000),
    /** BullMQ lock duration: how soon a crashed worker's job is picked up again. */
    lock_duration_ms: z.number().int().positive().default(30_000),
    stalled_interval_ms: z.number().int().positive().default(30_000),
    max_stalled_count: z.number().int().min(0).default(5),
  })
  .prefault({});

const PlacementSchema = z
  .object({
    /** Virtual CPUs placed per host CPU, and memory placed per MiB of host memory (OpenStack's defaults). */
    cpu_allocation_ratio: z.number().positive().max(1000).default(16),
    memory_allocation_ratio: z.number().positive().max(100).default(1.5),
    /** How long an API process reuses the host info workers published before reading it again. */
    host_info_cache_ms: z.number().int().min(0).default(5_000),
  })
  .prefault({});

const ImageCacheSchema = z
  .object({
    /** How often each host's cache of catalog images is filled, verified and pruned; 0 turns it off. */
    interval_ms: z.number().int().min(0).default(3_600_000),
    /** Re-hash each cached catalog image every run (a corrupted one is removed and downloaded again). */
    verify: z.boolean().default(true),
    /** Old versions of each image that no VM disk uses kept beyond the current one (the rest are deleted). */
    keep_unused_versions: z.number().int().min(0).max(100).default(1),
    /** An old version is deleted only once it has not been current for this long (a create may still be using it). */
    prune_grace_minutes: z.number().int().min(0).default(60),
  })
  .prefault({});

const CidrSchema = z
  .string()
  .regex(/^[0-9A-Fa-f:.]+\/\d{1,3}$/, 'a CIDR such as 10.1.0.0/16 or fd00::/8')
  .refine((c) => {
    const [addr = '', bits = ''] = c.split('/');
    const v = isIP(addr);
    return v !== 0 && Number(bits) <= (v === 4 ? 32 : 128);
  }, 'a CIDR such as 10.1.0.0/16 or fd00::/8');

/**
 * Failed authentications (a token that matches none) counted per client address in Redis: past
 * `max_failures` within `window_seconds`, every attempt from that address is answered 429.
 */
const AuthThrottleSchema = z
  .object({
    max_failures: z.number().int().positive().default(20),
    window_seconds: z.number().int().positive().max(86_400).default(300),
  })
  .prefault({});

const WebhooksSchema = z
  .object({
    /** Bound on one delivery attempt (connect, send, answer). */
    timeout_ms: z.number().int().positive().max(120_000).default(10_000),
    /** Attempts per delivery, and the base and cap of the exponential backoff between them (with jitter): hours by default. */
    attempts: z.number().int().positive().max(50).default(15),
    backoff_ms: z.number().int().positive().default(10_000),
    max_backoff_ms: z.number().int().positive().default(3_600_000),
    /** Deliveries sent at once by each worker process. */
    concurrency: z.number().int().positive().max(256).default(8),
    /** Networks (CIDR) and host names deliveries may reach although they are private, loopback or reserved. */
    allow_networks: z.array(CidrSchema).default([]),
    allow_hosts: z.array(z.string().min(1).max(253)).default([]),
  })
  .prefault({});

const HostPortSchema = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) });

const RedisSchema = z
  .object({
    /** Redis Sentinel: sentinels to ask for the master named `name` (failovers are followed); redis_url is then unused. */
    sentinels: z.array(HostPortSchema).min(1).optional(),
    name: z.string().min(1).optional(),
    sentinel_password: z.string().min(1).optional(),
    /** Redis Cluster: some of its nodes (the others are discovered); redis_url is then unused. */
    cluster: z.object({ nodes: z.array(HostPortSchema).min(1) }).optional(),
    /** Credentials of the Redis servers (ACL user and password) with sentinels or a cluster. */
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
  })
  .refine((r) => !(r.sentinels && r.cluster), { message: 'give sentinels or cluster, not both' })
  .refine((r) => !r.sentinels || r.name, { path: ['name'], message: 'the master name the sentinels monitor is required with sentinels' });

const ConfigBase = z.object({
  port: z.number().int().min(0).max(65535).default(8080),
  redis_url: z.string().default('redis://127.0.0.1:6379'),
  /** Sentinel or Cluster connection settings instead of redis_url (see README, Deployment). */
  redis: RedisSchema.optional(),
  /** Key prefix of every queue; the braces are a Redis Cluster hash tag. */
  queue_prefix: z
    .string()
    .regex(/^\{[A-Za-z0-9_-]+\}$/)
    .default('{provisioner}'),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** 32 random bytes, base64: encrypts cloud-init user-data stored with jobs. */
  user_data_key: z.string().refine((s) => Buffer.from(s, 'base64').length === 32, 'must be 32 bytes, base64'),
  max_body_bytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** How long the legacy routes wait for their job before answering 504 (the job goes on). */
  legacy_create_wait_ms: z.number().int().positive().default(280_000),
  legacy_wait_ms: z.number().int().positive().default(110_000),
  /** How long an Idempotency-Key is remembered (its job and answer are replayed for this long). */
  idempotency_ttl_seconds: z.number().int().positive().default(86_400),
  /**
   * How long a finished job stays readable (`GET /v1/jobs/{id}`, the list, its deliveries log); then it is
   * removed, user-data included. `RETENTION_SECONDS` overrides it.
   */
  retention_seconds: z
    .number()
    .int()
    .min(60)
    .max(366 * 86_400)
    .default(7 * 86_400),
  /**
   * Finished jobs kept per queue and outcome (completed, failed): past it the oldest are removed before
   * their retention ends (metrics: provisioner_queue_retention_full).
   */
  retention_max_jobs: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Bound on `?refresh=true` and the legacy list's refresh. */
  refresh_wait_ms: z.number().int().positive().default(15_000),
  regions: z.array(RegionSchema).default([]),
  baremetal_server_configs: z.array(LegacyRegionSchema).optional(),
  /** With baremetal_server_configs: the key for every host, and `host:port` → fingerprint. */
  ssh_private_key_path: z.string().optional(),
  /** ... or the key itself (from SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED), held in memory only. */
  ssh_private_key: z.string().optional(),
  host_key_fingerprints: z.record(z.string(), z.string().regex(FINGERPRINT_RE)).optional(),
  images: z.record(z.string().regex(IMAGE_NAME_RE), ImageSchema).default({}),
  tokens: z.array(TokenSchema).default([]),
  auth_throttle: AuthThrottleSchema,
  /**
   * Reverse proxies (CIDR) whose `X-Forwarded-For` is believed: a request from one of them is counted
   * against the address the header names (README, Docker Compose). Without any, the socket's address.
   */
  trusted_proxies: z.array(CidrSchema).default([]),
  worker: WorkerSchema,
  webhooks: WebhooksSchema,
  placement: PlacementSchema,
  image_cache: ImageCacheSchema,
});

export const ConfigSchema = ConfigBase.transform((c, ctx) => {
  const regions = [...c.regions];
  if (c.baremetal_server_configs) {
    for (const [i, old] of c.baremetal_server_configs.entries()) {
      const fp = c.host_key_fingerprints?.[`${old.host}:${old.port}`] ?? c.host_key_fingerprints?.[old.host];
      if (!(c.ssh_private_key_path || c.ssh_private_key) || !fp) {
        ctx.addIssue({
          code: 'custom',
          path: ['baremetal_server_configs', i],
          message: `needs ssh_private_key_path and host_key_fingerprints["${old.host}:${old.port}"] (or SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED and SSH_HOST_KEY_FINGERPRINT); ${fingerprintHelp(old.host, old.port)}`,
        });
        continue;
      }
      const key = c.ssh_private_key ? { private_key: c.ssh_private_key } : { private_key_path: c.ssh_private_key_path };
      regions.push(
        RegionSchema.parse({
          region_name: old.region_name,
          enabled: old.enabled,
          available_instance_types: old.available_instance_types,
          hosts: [{ name: 'host-1', address: old.host, port: old.port, user: old.user, ...key, host_key_fingerprint: fp }],
        }),
      );
    }
  }
  const seen = new Set<string>();
  for (const [i, r] of regions.entries()) {
    if (seen.has(r.region_name)) ctx.addIssue({ code: 'custom', path: ['regions', i, 'region_name'], message: 'duplicate region' });
    seen.add(r.region_name);
    const hosts = new Set(r.hosts.map((h) => h.name));
    if (hosts.size !== r.hosts.length) ctx.addIssue({ code: 'custom', path: ['regions', i, 'hosts'], message: 'host names must be unique in a region' });
  }
  // Sessions, webhook secrets, rate limits and idempotency keys find a token by its name: two tokens
  // with one name (or one value) would stand for each other.
  const names = new Set<string>();
  const values = new Set<string>();
  for (const [i, t] of c.tokens.entries()) {
    const hint = t.name === 'env-admin' ? ' (API_TOKEN adds the token env-admin)' : '';
    if (names.has(t.name)) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'name'], message: `duplicate token name '${t.name}'${hint}` });
    if (values.has(t.token)) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'token'], message: 'the same token value as an earlier token' });
    names.add(t.name);
    values.add(t.token);
  }
  if (regions.length === 0) ctx.addIssue({ code: 'custom', path: ['regions'], message: 'at least one region is required' });
  const { baremetal_server_configs: _b, ssh_private_key_path: _k, ssh_private_key: _s, host_key_fingerprints: _f, ...rest } = c;
  return { ...rest, regions };
});

export type Config = z.output<typeof ConfigSchema>;
export type RegionConfig = z.output<typeof RegionSchema>;
export type HostConfig = z.output<typeof HostSchema>;
export type InstanceType = z.output<typeof InstanceTypeSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

/**
 * Loads the configuration: the file named by PROVISIONER_CONFIG, then environment overrides
 * (PORT, WORKER_PORT, REDIS_URL, REDIS_SENTINELS/REDIS_MASTER_NAME/REDIS_CLUSTER_NODES/REDIS_PASSWORD, API_TOKEN, LOG_LEVEL, PROVISIONER_USER_DATA_KEY or USER_DATA_KEY, IMAGES, and
 * BAREMETAL_SERVER_CONFIGS with PROVISIONER_SSH_KEY_PATH and PROVISIONER_HOST_FINGERPRINTS for migration),
 * then the replaced service's env file (SSH_HOST, SSH_PORT, SSH_USER, SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED,
 * SSH_HOST_KEY_FINGERPRINT: see applyEnvFile).
 * Throws ConfigError naming every wrong field.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let raw: Record<string, unknown> = {};
  const path = env.PROVISIONER_CONFIG;
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read PROVISIONER_CONFIG ${path}: ${(e as Error).message}`);
    }
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
function applyRedisEnv(over: Record<string, unknown>, raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
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

/** How an operator reads a node's host-key fingerprint: install-server.sh's sshd (port 2222) serves the node's own host keys. */
export function fingerprintHelp(host: string, port: number): string {
  return `print it on the node with \`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` (install-server.sh prints it as host_key_fingerprint=… on its last line), or scan it with \`ssh-keyscan -t ed25519 -p ${port} ${host} | ssh-keygen -lf -\` and compare the two`;
}

/**
 * The replaced service's deployment, `docker run --env-file provisioner/secrets`: SSH_HOST, SSH_PORT,
 * SSH_USER, SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED (decoded here, kept in memory only) and
 * SSH_HOST_KEY_FINGERPRINT give one host; its region's name and instance types come from
 * BAREMETAL_SERVER_CONFIGS or from the one region of the file.
 */
function applyEnvFile(over: Record<string, unknown>, env: NodeJS.ProcessEnv, num: (name: string, v: string) => number): void {
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

/** JSON Schema of the configuration file, for docs/config.schema.json. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(ConfigBase, { io: 'input' });
}

/** docs/config.schema.json as `npm run config-schema` writes it. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify({ title: 'Provisioner configuration (PROVISIONER_CONFIG)', ...(configJsonSchema() as object) }, null, 2)}\n`;
}
