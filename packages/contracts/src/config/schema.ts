/**
 * The service's configuration file: its zod schema and the types parsed from it. The JSON Schema in
 * docs/config.schema.json is generated from this (`npm run config-schema`). Environment overrides are in
 * env.ts, the replaced service's BAREMETAL_SERVER_CONFIGS migration in legacy.ts.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { DNS_LABEL_RE, IMAGE_NAME_RE, isTagValue, NET_NAME_RE, SHA256_RE, TOKEN_NAME_RE } from '../names.ts';
import { Secret } from '../secret.ts';
import { legacyRegions } from './legacy.ts';

/** An SSH host-key fingerprint as `ssh-keygen -lf` prints it. */
export const FINGERPRINT_RE = /^SHA256:[A-Za-z0-9+/]{43}$/;

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
  /** Optional cap on snapshots per VM; a snapshot beyond it is 409 (each one keeps its data in the VM's disk). */
  max_snapshots_per_vm: z.number().int().min(0).optional(),
});

export const ImageSchema = z.object({
  url: z.string().regex(/^https?:\/\/[^\s]+$/, 'an http(s) URL'),
  sha256: z.string().regex(SHA256_RE).optional(),
});

export const ScopeSchema = z.enum(['read', 'write', 'admin']);
export type Scope = z.infer<typeof ScopeSchema>;

export const TokenSchema = z
  .object({
    /** Shown in logs and job views instead of the token. */
    name: z.string().regex(TOKEN_NAME_RE),
    token: z.string().min(16, 'tokens must be at least 16 characters'),
    scopes: z.array(ScopeSchema).min(1),
    /** Signs the deliveries to the `webhook_url` of this token's jobs (`whsec_` + base64); never shown anywhere. */
    webhook_secret: z
      .string()
      .regex(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/, 'whsec_ followed by at least 24 bytes, base64')
      .optional(),
    /**
     * Rotating webhook_secret: the secret it replaces, which keeps signing beside it (both signatures in
     * `webhook-signature`) until `webhook_secret_previous_until`; after that only webhook_secret signs.
     */
    webhook_secret_previous: z
      .string()
      .regex(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/, 'whsec_ followed by at least 24 bytes, base64')
      .optional(),
    webhook_secret_previous_until: z.iso.datetime({ offset: true, message: 'an ISO 8601 date and time, e.g. 2026-12-08T00:00:00Z' }).optional(),
    /** Binds the token to one owner: it sees and acts on only VMs and jobs whose `owner` tag is this. */
    owner: z.string().min(1).refine(isTagValue, 'a tag value: at most 1024 characters, no control characters, nothing XML cannot hold').optional(),
    /** At most `requests` requests per `per_seconds` window for this token (429 + Retry-After beyond). */
    rate_limit: z.object({ requests: z.number().int().positive(), per_seconds: z.number().int().positive().max(86_400) }).optional(),
  })
  .refine((t) => !t.webhook_secret_previous || (t.webhook_secret && t.webhook_secret_previous_until), {
    path: ['webhook_secret_previous_until'],
    message: 'webhook_secret_previous needs webhook_secret (the new one) and webhook_secret_previous_until (when the old one stops signing)',
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
    /** Drift (leftover files, names) younger than this is not reported or cleaned: a create in flight. */
    drift_grace_ms: z.number().int().min(0).default(600_000),
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
 * Failed authentications (a token that matches none) counted per client in Redis: past `max_failures`
 * within `window_seconds`, every attempt from that client is answered 429. A client is its IPv4 address,
 * or its IPv6 address's first `ipv6_prefix_length` bits: one subscriber is given a /64 at least, and
 * counted per address it could rotate through 2^64 of them. Shorter than 32 would throttle whole providers.
 */
const AuthThrottleSchema = z
  .object({
    max_failures: z.number().int().positive().default(20),
    window_seconds: z.number().int().positive().max(86_400).default(300),
    ipv6_prefix_length: z.number().int().min(32).max(128).default(64),
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
    /** Attempts of a redelivery someone asked for: a resend now (its outcome in the delivery log), not another schedule of `attempts`. */
    redelivery_attempts: z.number().int().positive().max(50).default(1),
    /** Redeliveries one token may ask for per window (429 + Retry-After beyond): each one is a POST to someone's receiver. */
    redelivery_limit: z
      .object({ requests: z.number().int().positive().default(10), per_seconds: z.number().int().positive().max(86_400).default(60) })
      .prefault({}),
    /** Networks (CIDR) and host names deliveries may reach although they are private, loopback or reserved. */
    allow_networks: z.array(CidrSchema).default([]),
    allow_hosts: z.array(z.string().min(1).max(253)).default([]),
    /** How often each worker's sender hands deliveries written to the outbox (and left there) to the delivery queue. */
    outbox_poll_ms: z.number().int().positive().max(60_000).default(1000),
    /** How often each worker looks for jobs that ended with no deliveries written (a worker killed right at a job's end). */
    sweep_ms: z.number().int().positive().max(3_600_000).default(10_000),
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

/** The file as written (before the legacy migration and the checks across fields). */
export const ConfigFileSchema = z.object({
  port: z.number().int().min(0).max(65535).default(8080),
  redis_url: z.string().default('redis://127.0.0.1:6379'),
  /** Sentinel or Cluster connection settings instead of redis_url (docs/operations.md, Redis Sentinel and Cluster). */
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
  /** How long a dashboard or VM page session lasts unused (it ends anyway 8 h after sign-in): a forgotten browser is signed out. */
  session_idle_seconds: z
    .number()
    .int()
    .min(60)
    .max(8 * 3600)
    .default(30 * 60),
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
   * against the address the header names (docs/security.md, trusted_proxies). Without any, the socket's address.
   */
  trusted_proxies: z.array(CidrSchema).default([]),
  worker: WorkerSchema,
  webhooks: WebhooksSchema,
  placement: PlacementSchema,
  image_cache: ImageCacheSchema,
});

export const ConfigSchema = ConfigFileSchema.transform((c, ctx) => {
  // The replaced service's region list becomes regions of the new shape (legacy.ts).
  const regions = [...c.regions, ...legacyRegions(c, ctx).map((r) => RegionSchema.parse(r))];
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

/** JSON Schema of the configuration file, for docs/config.schema.json. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(ConfigFileSchema, { io: 'input' });
}

/** docs/config.schema.json as `npm run config-schema` writes it. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify({ title: 'Provisioner configuration (PROVISIONER_CONFIG)', ...(configJsonSchema() as object) }, null, 2)}\n`;
}
