/**
 * The job catalog shared by producer (API) and consumer (worker): kinds, payloads, results, the
 * public job view and queue names. Processors parse `job.data` with these schemas first,
 * because payloads may come from an older API build.
 */
import { z } from 'zod';
import type { JobView, StepView } from './api.ts';
import { DNS_LABEL_RE, IMAGE_NAME_RE, isTagValue, SHA256_RE, TAG_KEY_RE, TAGS_MAX, VM_NAME_RE } from './names.ts';

export const JOB_KINDS = [
  'create',
  'start',
  'stop',
  'reboot',
  'delete',
  'edit-tags',
  'refresh',
  'image-cache',
  'console',
  'resize',
  'rebuild',
  'snapshot-create',
  'snapshot-revert',
  'snapshot-delete',
  'drift-clean',
] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** What a create waits for before it succeeds: the domain started, or the guest ready (cloud-init done, address known). */
export const WAIT_UNTIL = ['running', 'ready'] as const;
export const READY_TIMEOUT_DEFAULT_S = 900;
export const READY_TIMEOUT_MAX_S = 3600;

/** Custom messages here are predicates of the field (`must …`): the API puts the field's name in front (apps/api/src/validation.ts). */
export const VM_NAME_RULE = 'must be a lowercase DNS label (1-63 of a-z, 0-9, -)';
export const VmNameSchema = z.string().regex(VM_NAME_RE, VM_NAME_RULE);
export const RegionNameSchema = z.string().regex(DNS_LABEL_RE, 'unknown region');
export const ImageNameSchema = z.string().regex(IMAGE_NAME_RE, 'invalid image name');
export const TagKeySchema = z.string().regex(TAG_KEY_RE, 'must be 1-63 of A-Za-z0-9_.:/-, starting with a letter or digit');
export const TagsSchema = z
  .record(
    TagKeySchema,
    z.string().refine(isTagValue, 'must be at most 1024 characters, with no control characters and nothing XML cannot hold (U+FFFE, U+FFFF, lone surrogates)'),
  )
  .refine((t) => Object.keys(t).length <= TAGS_MAX, `must hold at most ${TAGS_MAX} tags`);

const Base = z.object({
  region: RegionNameSchema,
  host: z.string(),
  vm_name: VmNameSchema,
  /** Position of this operation among all operations on the VM (per-VM ordering). */
  seq: z.number().int().nonnegative(),
  submitted_by: z.string(),
  request_id: z.string().optional(),
  /** Where this job's outcome is POSTed (signed with the submitting token's webhook_secret, never stored here). */
  webhook_url: z.string().optional(),
  /** Opt-in events also POSTed to webhook_url (job.progress, vm.ready). */
  webhook_events: z.array(z.string()).optional(),
  /** The VM's `owner` tag when the job was accepted: owner-bound tokens see only their owner's jobs. */
  owner: z.string().optional(),
});

export const CreatePayload = Base.extend({
  kind: z.literal('create'),
  instance_type: z.string(),
  vcpus: z.number().int().positive(),
  memory_mb: z.number().int().positive(),
  storage_mb: z.number().int().positive(),
  image: z.object({ name: ImageNameSchema, url: z.string(), sha256: z.string().regex(SHA256_RE).optional() }),
  tags: TagsSchema,
  /** AES-256-GCM ciphertext of the user-data (see crypto.ts); never plain text in Redis. */
  user_data_enc: z.string().nullable(),
  /** `ready`: the job ends when the guest is ready (step wait-ready); absent or `running`: once started. */
  wait_until: z.enum(WAIT_UNTIL).optional(),
  /** How long wait-ready waits before the job fails GUEST_NOT_READY (absent: READY_TIMEOUT_DEFAULT_S). */
  ready_timeout_s: z.number().int().min(1).max(READY_TIMEOUT_MAX_S).optional(),
  /**
   * Written by the worker (job.updateData) once the VM runs and the create waits for its guest: a run of
   * the job that finds it goes straight back to waiting (the VM's steps are done), and a cancel keeps the VM.
   */
  // image_sha256 is null while an image downloaded without a catalog checksum is still being hashed on its host.
  ready_wait: z.object({ since: z.number(), image_sha256: z.string().nullable() }).optional(),
  /** Written by the worker once a create that failed for good removed what it made: settling its end frees the name. */
  removed: z.boolean().optional(),
});
export const StartPayload = Base.extend({ kind: z.literal('start') });
export const StopPayload = Base.extend({ kind: z.literal('stop'), force: z.boolean(), timeout_ms: z.number().int().positive() });
export const RebootPayload = Base.extend({ kind: z.literal('reboot'), timeout_ms: z.number().int().positive() });
export const DeletePayload = Base.extend({ kind: z.literal('delete') });
export const EditTagsPayload = Base.extend({ kind: z.literal('edit-tags'), tags: TagsSchema });
/**
 * Gives the VM another instance type's vCPUs, memory and disk (the disk only grows). `was_running` is
 * written by the worker (job.updateData) before it shuts the VM down, so a run after a crash still knows
 * to start it again.
 */
export const ResizePayload = Base.extend({
  kind: z.literal('resize'),
  instance_type: z.string(),
  vcpus: z.number().int().positive(),
  memory_mb: z.number().int().positive(),
  storage_mb: z.number().int().positive(),
  force: z.boolean(),
  timeout_ms: z.number().int().positive(),
  was_running: z.boolean().optional(),
});
/**
 * Gives the VM a fresh disk on `image` (with a new seed when `user_data_enc` is set; else its seed is kept),
 * keeping its definition (name, UUID, MAC, tags, type). `was_running` is written by the worker
 * (job.updateData) before it stops the VM, so a run after a crash still starts it again.
 */
export const RebuildPayload = Base.extend({
  kind: z.literal('rebuild'),
  image: z.object({ name: ImageNameSchema, url: z.string(), sha256: z.string().regex(SHA256_RE).optional() }),
  /** AES-256-GCM ciphertext of the new user-data (bound to this job's id); null keeps the VM's seed. */
  user_data_enc: z.string().nullable(),
  force: z.boolean(),
  timeout_ms: z.number().int().positive(),
  delete_snapshots: z.boolean(),
  was_running: z.boolean().optional(),
});
/** Snapshot names follow the VM names' rule (a lowercase DNS label). */
export const SnapshotNameSchema = z.string().regex(VM_NAME_RE, VM_NAME_RULE);
export const SnapshotCreatePayload = Base.extend({ kind: z.literal('snapshot-create'), snapshot: SnapshotNameSchema });
/**
 * `tags` is written by the worker (job.updateData) before it reverts: the VM's tags then, put back after
 * the revert brought the snapshot's definition (and its tags) back, also by a run after a crash.
 */
export const SnapshotRevertPayload = Base.extend({ kind: z.literal('snapshot-revert'), snapshot: SnapshotNameSchema, tags: TagsSchema.optional() });
export const SnapshotDeletePayload = Base.extend({ kind: z.literal('snapshot-delete'), snapshot: SnapshotNameSchema });
export const RefreshPayload = z.object({
  kind: z.literal('refresh'),
  region: RegionNameSchema,
  host: z.string(),
  submitted_by: z.string(),
  request_id: z.string().optional(),
});
/** Keeps the host's cache of catalog images warm, verified and pruned (scheduled per host). */
export const ImageCachePayload = z.object({
  kind: z.literal('image-cache'),
  region: RegionNameSchema,
  host: z.string(),
  submitted_by: z.string(),
  request_id: z.string().optional(),
});

/** Largest console tail one request reads (1 MiB); 64 KiB unless asked. */
export const CONSOLE_TAIL_MAX = 1 << 20;
export const CONSOLE_TAIL_DEFAULT = 64 * 1024;

/**
 * Reads the tail of a VM's serial console log for GET …/console. A host job: it does not wait in the VM's
 * line (a console is read while a create waits for its guest). The text goes to a short-lived encrypted
 * key (ConsoleStore), never into the job.
 */
export const ConsolePayload = z.object({
  kind: z.literal('console'),
  region: RegionNameSchema,
  host: z.string(),
  vm_name: VmNameSchema,
  tail_bytes: z.number().int().positive().max(CONSOLE_TAIL_MAX),
  submitted_by: z.string(),
  request_id: z.string().optional(),
  owner: z.string().optional(),
});

/**
 * Removes what the host's drift report lists (see HostDriftRecord), re-checked on the host first: never an
 * unmanaged domain, anything of a VM with a job queued or running, or a file younger than the grace period.
 */
export const DriftCleanPayload = z.object({
  kind: z.literal('drift-clean'),
  region: RegionNameSchema,
  host: z.string(),
  submitted_by: z.string(),
  request_id: z.string().optional(),
});

export const JobPayload = z.discriminatedUnion('kind', [
  CreatePayload,
  StartPayload,
  StopPayload,
  RebootPayload,
  DeletePayload,
  EditTagsPayload,
  ResizePayload,
  RebuildPayload,
  SnapshotCreatePayload,
  SnapshotRevertPayload,
  SnapshotDeletePayload,
  RefreshPayload,
  ImageCachePayload,
  ConsolePayload,
  DriftCleanPayload,
]);
export type JobPayload = z.infer<typeof JobPayload>;
/** Jobs about a host rather than one VM: no per-VM ordering, no inventory patch. */
export const HOST_JOB_KINDS = ['refresh', 'image-cache', 'console', 'drift-clean'] as const satisfies readonly JobKind[];
export type HostJobPayload = Extract<JobPayload, { kind: (typeof HOST_JOB_KINDS)[number] }>;
export type VmJobPayload = Exclude<JobPayload, HostJobPayload>;

/** The one "is this a host job" test: no per-VM ordering, no inventory patch, no VM in its target. */
export function isHostJob<P extends { kind: JobKind }>(p: P): p is Extract<P, { kind: (typeof HOST_JOB_KINDS)[number] }> {
  return (HOST_JOB_KINDS as readonly JobKind[]).includes(p.kind);
}

/** Steps each kind goes through, in order: the job view lists them before they run. */
export const STEPS: Record<JobKind, readonly string[]> = {
  create: ['fetch-image', 'create-disk', 'create-seed', 'define', 'start'],
  start: ['start'],
  stop: ['stop'],
  reboot: ['stop', 'start'],
  delete: ['delete'],
  'edit-tags': ['set-tags'],
  refresh: ['list'],
  'image-cache': ['verify', 'fetch', 'prune'],
  console: ['read'],
  'drift-clean': ['re-check', 'clean'],
  resize: ['stop', 'resize', 'start'],
  rebuild: ['fetch-image', 'create-disk', 'create-seed', 'stop', 'swap', 'start'],
  'snapshot-create': ['snapshot'],
  'snapshot-revert': ['check', 'revert', 'set-tags'],
  'snapshot-delete': ['delete-snapshot'],
};

/** The steps of one job: a create that waits for its guest ends with `wait-ready`; see also rebuild's `delete-snapshots`. */
export function stepsOf(p: { kind: JobKind; wait_until?: string; delete_snapshots?: boolean }): readonly string[] {
  const steps = STEPS[p.kind] ?? [];
  // A rebuild told to delete the VM's snapshots (they live in the disk it replaces) does so once the VM is
  // stopped, right before its swap: a failure before then leaves them.
  if (p.kind === 'rebuild' && p.delete_snapshots) return steps.flatMap((s) => (s === 'swap' ? ['delete-snapshots', s] : [s]));
  return p.kind === 'create' && p.wait_until === 'ready' ? [...steps, 'wait-ready'] : steps;
}

/** Whether a create's VM is made and running and the job waits for its guest (job data the worker wrote). */
export function isWaitingReady(data: unknown): boolean {
  const d = data as { kind?: unknown; ready_wait?: unknown } | null;
  return d?.kind === 'create' && typeof d.ready_wait === 'object' && d.ready_wait !== null;
}

/** The job view and its steps are the API contract's (api.ts): one schema, its type inferred. */
export type { JobView, StepView };
export type StepState = StepView['state'];

/** What a processor stores with BullMQ's `updateProgress`. */
export interface ProgressData {
  percent: number;
  step: string | null;
  steps: StepView[];
}

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Queue of one host's operations; its global concurrency is the host's operation limit. */
export function hostQueueName(region: string, host: string): string {
  return `ops.${region}.${host}`;
}

/** libvirt's domain state texts, as `virsh domstate` prints them (the inventory's `state`). */
export const VM_STATES = ['running', 'idle', 'paused', 'in shutdown', 'shut off', 'crashed', 'pmsuspended', 'no state'] as const;

/** An address of a VM and where it was learnt: libvirt's DHCP lease, the guest agent, or the host's ARP table. */
export interface VmAddress {
  ip: string;
  family: 'ipv4' | 'ipv6';
  mac: string | null;
  source: 'lease' | 'agent' | 'arp';
}

/** What the inventory knows of a VM's guest: the agent, cloud-init, and whether it is ready (since ready_at). */
export interface VmGuest {
  agent: 'connected' | 'absent' | 'unknown';
  cloud_init: 'pending' | 'running' | 'done' | 'error' | 'unknown';
  /** cloud-init is done and, where the VM has a NIC, an address is known; stays true once reached. */
  ready: boolean;
  ready_at: string | null;
}

/** Entries written before the guest fields existed read with these. */
export const GUEST_UNKNOWN: VmGuest = { agent: 'unknown', cloud_init: 'unknown', ready: false, ready_at: null };

/** One snapshot of a VM as the inventory knows it (from its saved definition). */
export interface VmSnapshot {
  name: string;
  created_at: string;
  /** The VM's state when it was taken (`running`, `shut off`, `paused`): a revert brings that back. */
  state: string;
  /** Instance type, vCPUs and memory of the definition saved with it. */
  instance_type: string | null;
  vcpus: number;
  memory_mb: number;
}

export interface InventoryVm {
  name: string;
  uuid: string;
  dom_id: number | null;
  state: string;
  managed: boolean;
  tags: Record<string, string>;
  ip: string | null;
  vcpus: number;
  memory_mb: number;
  image: string | null;
  instance_type: string | null;
  /** Lease addresses first (in MAC order), then the agent's, then ARP's; `ip` is the first IPv4 of them. */
  addresses: VmAddress[];
  guest: VmGuest;
  /** Its snapshots, oldest first (entries written before snapshots existed read with none). */
  snapshots: VmSnapshot[];
}

/** A host's capacity as a worker last read it (Hypervisor.hostInfo), for placement. */
export interface HostInfoRecord {
  observed_at: string;
  cpus: number;
  memory_mb: number;
  memory_available_mb: number;
  disk_free_bytes: number;
  disk_total_bytes: number;
  kvm: boolean;
}

/** One catalog image in a host's cache. */
export interface ImageCacheEntry {
  cached: boolean;
  sha256: string | null;
  size_bytes: number | null;
  /** The cached content was re-hashed this run and matched its checksum (null: not checked). */
  verified: boolean | null;
  /** Downloaded by this run (it was missing, corrupted, or the catalog's checksum changed). */
  downloaded: boolean;
  /** Why it could not be cached this run. */
  error: string | null;
}

/** Why a host's last image-cache run failed as a whole (the host did not answer, a step's command failed), and when. */
export interface ImageCacheRunError {
  message: string;
  at: string;
}

/** A host's image cache as the last image-cache job saw it. */
export interface ImageCacheRecord {
  /** When the last run that ended checked it; null while none has (a run failed before any did). */
  checked_at: string | null;
  images: Record<string, ImageCacheEntry>;
  /** Versions removed by that run. */
  pruned: Array<{ name: string; sha256: string }>;
  /**
   * The last run's failure when it failed (the images are then as the last run that ended saw them); null, or
   * absent in records written before it existed, once a run ends.
   */
  last_error?: ImageCacheRunError | null;
}

/** What a placed create will take on its host, counted until the VM shows up in the host's inventory. */
export interface PendingCreate {
  vcpus: number;
  memory_mb: number;
  storage_mb: number;
}

export interface InventoryEntry {
  region: string;
  host: string;
  /** When the host was last listed successfully. */
  observed_at: string | null;
  /** When a listing was last attempted, and why it failed if it did. */
  attempted_at: string;
  error: string | null;
  vms: InventoryVm[];
}

/**
 * What nobody accounts for on a host: `domain-without-disk` (a managed domain whose disk is gone),
 * `file-without-domain` (a disk, seed or console log in disks_dir of no domain), `name-without-vm` (a name
 * reserved for the host with no domain and no job).
 */
export const DRIFT_KINDS = ['domain-without-disk', 'file-without-domain', 'name-without-vm'] as const;
export interface DriftItem {
  kind: (typeof DRIFT_KINDS)[number];
  vm_name: string;
  /** The file (in disks_dir) for `file-without-domain`, the missing disk for `domain-without-disk`. */
  path: string | null;
  detail: string;
}

/** A host's drift as the workers' last inventory refresh found it (InventoryStore). */
export interface HostDriftRecord {
  region: string;
  host: string;
  observed_at: string;
  /** Files younger than this were left out (a create in flight may be writing them). */
  grace_ms: number;
  items: DriftItem[];
}
