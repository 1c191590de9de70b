/**
 * What Redis knows of each VM between the API and the workers: the host its name is reserved for, the
 * creates placed on a host that its inventory may not list yet ("pending", with running totals that the
 * scripts keep equal to the sum of the entries, so placement reads four numbers per host and reserves
 * room without a lock), and the VM's line of operations (per-VM ordering: only the lowest seq may run),
 * which jobs enter at submission (`enter`) and leave once, when their end is settled (`settle`).
 */
import { isWaitingReady, type PendingCreate, type PendingLimits, type PendingTotals } from '@provisioner/contracts';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { keys } from './keys.ts';
import { scanKeys } from './redis.ts';
import { runScript } from './scripts.ts';

const FIELDS = ['n', 'vcpus', 'memory_mb', 'storage_mb'] as const;

export type ReserveOutcome = { ok: true } | { ok: false; reason: 'exists' } | { ok: false; reason: 'full'; field: keyof PendingTotals };
export type ResizeReserveOutcome = { ok: true } | { ok: false; reason: 'gone' | 'busy' } | { ok: false; reason: 'full'; field: keyof PendingTotals };

/** The pending entry of a VM's resize: `/` is in no VM name, so it never meets a create's entry. */
const resizeEntry = (vm: string) => `${vm}/resize`;
/** How long a resize's entry counts even when its VM has no operation in line (reserved, not queued yet). */
const RESIZE_SUBMIT_GRACE_MS = 60_000;

/**
 * How a job ended, for what it held on its VM's records: `kept`: what it made stays (a created VM, which
 * the inventory counts now, or a resize's new sizes); `undone`: a create that left no VM (canceled before
 * it ran, or its cleanup removed what it made), so its name is freed too; `made`: a create's VM runs and
 * the job goes on (it waits for its guest), so its room is given back but its turn does not end.
 */
export type JobOutcome = 'made' | 'kept' | 'undone';

/** What settling reads of a job (a BullMQ Job, as the worker and the API hold it). */
export type SettledJob = Pick<Job, 'id' | 'data'>;

/**
 * The outcome of a job that ended (or is canceled before it ran), from its data and attempts: a create
 * that never started, or whose cleanup removed its VM (`removed`, written by the worker), left no VM.
 */
export function endOutcome(job: Pick<Job, 'data' | 'attemptsMade' | 'attemptsStarted'>): 'kept' | 'undone' {
  const d = job.data as { kind?: string; removed?: unknown } | null;
  if (d?.kind !== 'create' || isWaitingReady(d)) return 'kept';
  return d.removed === true || (job.attemptsMade === 0 && !job.attemptsStarted) ? 'undone' : 'kept';
}

/** Lines read by one vmHeads call (a page of VMs is at most 500; the drift check reads a host's). */
const HEADS_PER_CALL = 1000;

export class VmLedger {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  // --- The name and the room of a create ---

  /**
   * Reserves `vm`'s name for `host` and counts it as pending there, in one step, unless the host's pending
   * totals with it would pass `limits` (then nothing changes). 'exists': the name is taken in the region.
   */
  async reserve(region: string, host: string, vm: string, need: PendingCreate, limits: PendingLimits): Promise<ReserveOutcome> {
    const entry: PendingCreate = { vcpus: need.vcpus, memory_mb: need.memory_mb, storage_mb: need.storage_mb };
    const needs = { n: 1, ...entry };
    const out = String(
      await runScript(
        this.redis,
        'reservePending',
        [this.pendingKey(region, host), this.totalsKey(region, host), keys.vmHost(this.prefix, region, vm)],
        [vm, host, JSON.stringify(entry), ...FIELDS.map((f) => needs[f]), ...FIELDS.map((f) => (limits[f] === null ? -1 : Math.max(0, limits[f])))],
      ),
    );
    if (out === 'ok') return { ok: true };
    if (out === 'exists') return { ok: false, reason: 'exists' };
    return { ok: false, reason: 'full', field: out.slice('full:'.length) as keyof PendingTotals };
  }

  /**
   * Counts the extra room of `vm`'s resize (`delta`: what the new type needs beyond the old, each part at
   * least 0) as pending on its host, in the same atomic step as a create's (reservePending): unless the
   * host's pending totals with it would pass `limits`. 'gone': the VM's name is reserved for another host;
   * 'busy': a resize of the VM is pending already.
   */
  async reserveResize(region: string, host: string, vm: string, delta: PendingCreate, limits: PendingLimits): Promise<ResizeReserveOutcome> {
    const entry = { n: 0, vcpus: Math.max(0, delta.vcpus), memory_mb: Math.max(0, delta.memory_mb), storage_mb: Math.max(0, delta.storage_mb), at: Date.now() };
    const out = String(
      await runScript(
        this.redis,
        'reservePending',
        [this.pendingKey(region, host), this.totalsKey(region, host), keys.vmHost(this.prefix, region, vm)],
        [
          resizeEntry(vm),
          host,
          JSON.stringify(entry),
          ...FIELDS.map((f) => entry[f]),
          ...FIELDS.map((f) => (limits[f] === null ? -1 : Math.max(0, limits[f]))),
          'resize',
        ],
      ),
    );
    if (out === 'ok') return { ok: true };
    if (out === 'gone' || out === 'busy') return { ok: false, reason: out };
    return { ok: false, reason: 'full', field: out.slice('full:'.length) as keyof PendingTotals };
  }

  /** Stops counting `vm`'s resize on `host` when its job was not queued after all (a queued one's end is settled by `settle`). */
  async releaseResize(region: string, host: string, vm: string): Promise<void> {
    await runScript(this.redis, 'releasePending', [this.pendingKey(region, host), this.totalsKey(region, host)], [resizeEntry(vm)]);
  }

  /**
   * Undoes `reserve` for a create that was not queued after all, or a name the drift clean found without a
   * VM: frees the name if it is still reserved for `host`, and stops counting the VM there. (A queued
   * create's end is settled by `settle`.)
   */
  async free(region: string, host: string, vm: string): Promise<void> {
    await runScript(
      this.redis,
      'releasePending',
      [this.pendingKey(region, host), this.totalsKey(region, host), keys.vmHost(this.prefix, region, vm)],
      [vm, host],
    );
  }

  /** The VM is gone (deleted): its name is free in the region again. */
  async forget(region: string, vm: string): Promise<void> {
    await this.redis.del(keys.vmHost(this.prefix, region, vm));
  }

  /**
   * Names held for `host`: reserved for it (their create was accepted there) or counted as pending there.
   * Scans the region's names (drift reports only, never a request's path).
   */
  async namesOn(region: string, host: string): Promise<string[]> {
    const names = await this.acceptedNames(region);
    const hosts = names.length ? await this.redis.mget(...names.map((n) => keys.vmHost(this.prefix, region, n))) : [];
    const pending = await this.redis.hkeys(this.pendingKey(region, host));
    return [...new Set([...names.filter((_, i) => hosts[i] === host), ...pending])];
  }

  /** The host `vm`'s name is reserved for (its create was accepted there), or null. */
  hostOf(region: string, vm: string): Promise<string | null> {
    return this.redis.get(keys.vmHost(this.prefix, region, vm));
  }

  /** Names of VMs whose create was accepted in the region (host recorded), whether or not they exist yet. */
  async acceptedNames(region: string): Promise<string[]> {
    const start = keys.vmHost(this.prefix, region, '');
    return (await scanKeys(this.redis, `${start}*`)).map((k) => k.slice(start.length));
  }

  /** The running pending totals of each host (read in parallel). */
  async totals(region: string, hosts: readonly string[]): Promise<Map<string, PendingTotals>> {
    const out = new Map<string, PendingTotals>();
    if (hosts.length === 0) return out;
    const res = await Promise.all(hosts.map((h) => this.redis.hmget(this.totalsKey(region, h), ...FIELDS)));
    for (const [i, h] of hosts.entries()) {
      const v = res[i] ?? [];
      out.set(h, { n: Number(v[0] ?? 0), vcpus: Number(v[1] ?? 0), memory_mb: Number(v[2] ?? 0), storage_mb: Number(v[3] ?? 0) });
    }
    return out;
  }

  /**
   * Exact pending totals of `host`: entries whose VM the host's inventory lists now (`listed`: counted
   * there) or whose name is no longer reserved for the host (a canceled or failed create) are dropped, and
   * the totals recounted from what is left. Reads the whole backlog of the host.
   */
  async sweep(region: string, host: string, listed: ReadonlySet<string>): Promise<PendingTotals> {
    const all = await this.redis.hgetall(this.pendingKey(region, host));
    const names = Object.keys(all);
    // A resize's entry (`VM/resize`) stays while its VM's name is not reserved for another host and its
    // job is in the VM's line (or was just reserved and is being queued); the worker or a cancel releases
    // it at the end.
    const vmOf = (n: string) => (n.endsWith('/resize') ? n.slice(0, -'/resize'.length) : n);
    const recorded = names.length ? await this.redis.mget(...names.map((n) => keys.vmHost(this.prefix, region, vmOf(n)))) : [];
    const drop: string[] = [];
    for (const [i, n] of names.entries()) {
      if (n !== vmOf(n)) {
        const at = Number((JSON.parse(all[n] ?? '{}') as { at?: unknown }).at ?? 0);
        const elsewhere = recorded[i] != null && recorded[i] !== host;
        if (elsewhere || (Date.now() - at > RESIZE_SUBMIT_GRACE_MS && !(await this.hasOps(region, vmOf(n))))) drop.push(n);
      } else if (recorded[i] !== host || listed.has(n)) drop.push(n);
    }
    return this.sweepNames(region, host, drop);
  }

  /** Removes `names` from the host's pending creates and recounts its totals from what is left. */
  async sweepNames(region: string, host: string, names: readonly string[]): Promise<PendingTotals> {
    const s = await runScript<number[]>(this.redis, 'sweepPending', [this.pendingKey(region, host), this.totalsKey(region, host)], names);
    return { n: Number(s[0]), vcpus: Number(s[1]), memory_mb: Number(s[2]), storage_mb: Number(s[3]) };
  }

  // --- The VM's line of operations: entered at submission, left once when the job's end is settled ---

  /**
   * Puts `jobId` last in the VM's line with the VM's next seq, writing the job's queue record (`record`,
   * JobQueue's key) in the same round trip. `expectSeq`: the seq the write was built from (If-Match); when
   * another operation was queued since, nothing is written and the VM's current seq is answered instead.
   */
  async enter(
    vm: { region: string; vm: string },
    jobId: string,
    record: { key: string; queue: string; ttlSeconds: number },
    expectSeq?: number,
  ): Promise<{ ok: true; seq: number } | { ok: false; current: number }> {
    const args = [record.queue, record.ttlSeconds, jobId, ...(expectSeq !== undefined ? [expectSeq] : [])];
    const seq = Number(await runScript(this.redis, 'recordJob', [record.key, this.seqKey(vm.region, vm.vm), this.lineKey(vm.region, vm.vm)], args));
    return seq < 0 ? { ok: false, current: -1 - seq } : { ok: true, seq };
  }

  /** The ids of the VM's operations not ended yet, in order. */
  line(region: string, vm: string): Promise<string[]> {
    return this.redis.zrange(this.lineKey(region, vm), 0, -1);
  }

  /**
   * The seq of the VM's last queued operation (0: none ever). It only grows, so it versions the VM's line:
   * a write built from a read carries it (JobQueue.submit's `expectSeq`).
   */
  async seq(region: string, vm: string): Promise<number> {
    return Number((await this.redis.get(this.seqKey(region, vm))) ?? 0);
  }

  /** Whether operations on the VM are still queued or running. */
  async hasOps(region: string, vm: string): Promise<boolean> {
    return (await this.redis.zcard(this.lineKey(region, vm))) > 0;
  }

  /**
   * The first operation in each VM's line, undefined for a VM with none: one script call (a page of 100
   * VMs is one command and one reply, not 100 of each).
   */
  async heads(vms: ReadonlyArray<{ region: string; vm: string }>): Promise<Array<string | undefined>> {
    if (vms.length === 0) return [];
    const ks = vms.map((v) => this.lineKey(v.region, v.vm));
    const r: Array<string | null | undefined> = [];
    // The script hands its keys to one EXISTS, and Lua's unpack takes at most about 8 000 values.
    for (let i = 0; i < ks.length; i += HEADS_PER_CALL) {
      const part = ks.slice(i, i + HEADS_PER_CALL);
      const got = await runScript<Array<string | null>>(this.redis, 'vmHeads', part, []);
      for (let j = 0; j < part.length; j++) r.push(got[j]);
    }
    return vms.map((_, i) => r[i] ?? undefined);
  }

  /**
   * Whether `jobId` is first in its VM's line. A head that has finished (its worker died before settling
   * it) is settled here; one that is not in `queue` any more (removed by an operator) is dropped: neither
   * may block the VM forever.
   */
  async isMyTurn(queue: Queue, region: string, vm: string, jobId: string): Promise<boolean> {
    const key = this.lineKey(region, vm);
    for (let i = 0; i < 100; i++) {
      const [first] = await this.redis.zrange(key, 0, 0);
      if (first === undefined || first === jobId) return true;
      const head = await queue.getJob(first);
      const state = head ? await head.getState() : 'unknown';
      if (head && (state === 'completed' || state === 'failed')) {
        await this.settle(queue, head, endOutcome(head));
        continue;
      }
      if (!head || state === 'unknown') {
        await this.redis.zrem(key, first);
        continue;
      }
      return false;
    }
    return false;
  }

  /**
   * Settles what `job` held on its VM's records, at most once: a create's room on its host (and, when
   * `undone`, its name), a resize's extra room, and, unless `made`, its turn in the VM's line, promoting
   * the VM's next operation when it waits as delayed. The one path by which a queued job gives these back:
   * the worker once BullMQ recorded its outcome, a cancel of a queued job, isMyTurn for a head whose worker
   * died; whichever comes second does nothing. A host job holds none. Answers whether this call settled
   * it (for `made`: whether the job was still in its VM's line).
   */
  async settle(queue: Queue, job: SettledJob, outcome: JobOutcome): Promise<boolean> {
    const d = job.data as { kind?: string; region?: string; host?: string; vm_name?: string } | null;
    if (!d?.kind || !d.region || !d.vm_name) return false;
    const host = d.host ?? '';
    const entry = !host ? '' : d.kind === 'create' ? d.vm_name : d.kind === 'resize' ? resizeEntry(d.vm_name) : '';
    const ends = outcome !== 'made';
    const free = d.kind === 'create' && outcome === 'undone' && host !== '';
    const [settled, head] = await runScript<[number, string?]>(
      this.redis,
      'settleJob',
      [this.lineKey(d.region, d.vm_name), this.pendingKey(d.region, host), this.totalsKey(d.region, host), keys.vmHost(this.prefix, d.region, d.vm_name)],
      [String(job.id), ends ? 1 : 0, entry, free ? 1 : 0, host],
    );
    if (settled !== 1) return false;
    if (ends && head) {
      const next: Job | undefined = await queue.getJob(head);
      if (next && (await next.isDelayed())) await next.promote().catch(() => undefined);
    }
    return true;
  }

  private lineKey(region: string, vm: string): string {
    return keys.vmOps(this.prefix, region, vm);
  }

  private seqKey(region: string, vm: string): string {
    return keys.vmSeq(this.prefix, region, vm);
  }

  private pendingKey(region: string, host: string): string {
    return keys.pendingCreates(this.prefix, region, host);
  }

  private totalsKey(region: string, host: string): string {
    return keys.pendingTotals(this.prefix, region, host);
  }
}
