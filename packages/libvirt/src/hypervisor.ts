import { randomBytes } from 'node:crypto';
import {
  CONSOLE_TAIL_MAX,
  consoleTailArgv,
  createDiskArgv,
  createSeedArgv,
  createVmArgv,
  defineArgv,
  diskInfoArgv,
  domainStateArgv,
  dumpXmlArgv,
  ensureImageArgv,
  guestReadyArgv,
  guestStatusArgv,
  hostInfoArgv,
  type ImageRef,
  imageCacheArgv,
  listDomainsArgv,
  powerOffArgv,
  probeArgv,
  qemuImgInfoArgv,
  rebuildCleanArgv,
  rebuildSnapshotsArgv,
  rebuildSwapArgv,
  removeFilesArgv,
  removeOldFilesArgv,
  resizeArgv,
  setTagsArgv,
  shutdownArgv,
  snapshotCreateArgv,
  snapshotDeleteArgv,
  snapshotRevertArgv,
  snapshotsArgv,
  startArgv,
  undefineArgv,
  VM_LOCKED_EXIT,
  vmLockedArgv,
} from './commands.ts';
import {
  AlreadyExistsError,
  ChecksumMismatchError,
  CommandFailedError,
  DomainNotFoundError,
  DownloadFailedError,
  HostDiskFullError,
  InvalidArgumentError,
  ParseError,
  VmLockedError,
} from './errors.ts';
import { type ConsoleTail, type GuestReadyFacts, type GuestStatus, parseConsoleTail, parseGuestReady, parseGuestStatus } from './guest-parse.ts';
import { assertPositiveInt, assertTags, assertVmName } from './names.ts';
import {
  type CreateVmExecOutput,
  type CreateVmOutput,
  type DiskFile,
  type DomainInfo,
  type HostInfo,
  type ImageCacheReport,
  isDomainNotFound,
  parseCreateVm,
  parseCurlProgress,
  parseDiskInfo,
  parseDomainList,
  parseDomainXml,
  parseEnsureImage,
  parseHostInfo,
  parseImageCache,
  parseListing,
  parseQemuImgInfo,
  parseSnapshots,
  parseStepMarker,
  type SnapshotInfo,
} from './parse.ts';
import { type ExecOptions, SshHost, type SshOptions } from './ssh.ts';
import { buildDomainXml, DOMAIN_NS, type DomainSpec, domainMetadataXml, legacyDescription, type NetworkSpec, TAGS_NS, tagsMetadataXml } from './xml.ts';

export interface HypervisorOptions {
  ssh: SshOptions;
  /** libvirt connection URI on the host. */
  uri?: string;
  /** Where cached images live on the host (owned by the automation user). */
  imagesDir: string;
  /** Where VM disks and cloud-init seeds live on the host. */
  disksDir: string;
  network?: NetworkSpec;
  /** `auto` asks the host whether KVM is usable (software emulation otherwise). */
  domainType?: 'kvm' | 'qemu' | 'auto';
  /**
   * How long a command that changes a VM waits for the VM's lock on the host (sh/vm-lock.sh) before
   * it fails with a retryable VmLockedError. Default 60 s.
   */
  vmLockWaitMs?: number;
}

export interface OpOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface CachedImage {
  path: string;
  /** Null while a download without a catalog checksum is still being hashed on the host (sh/ensure-image.sh). */
  sha256: string | null;
  sizeBytes: number;
  downloaded: boolean;
}

export interface CreateVmSpec {
  name: string;
  instanceId: string;
  vcpus: number;
  memoryMiB: number;
  diskPath: string;
  seedPath: string | null;
  tags: Record<string, string>;
  image?: string;
  instanceType?: string;
}

/**
 * A typed client for one hypervisor host. Every operation is one (occasionally two) SSH execs of an
 * argv built by a pure function; operations that can be idempotent are.
 */
export class Hypervisor {
  readonly ssh: SshHost;
  readonly uri: string;
  private kvm: boolean | null = null;
  private readonly baseInfo = new Map<string, ReturnType<typeof parseQemuImgInfo>>();
  /** The cache file each image name's copy was at this client's last create: its base facts are known. */
  private readonly lastVersion = new Map<string, string>();

  constructor(private readonly opts: HypervisorOptions) {
    this.ssh = new SshHost(opts.ssh);
    this.uri = opts.uri ?? 'qemu:///system';
  }

  /** Paths of a VM's disk, seed and serial console log on this host (derived from its validated name). */
  paths(name: string): { disk: string; seed: string; console: string } {
    assertVmName(name);
    const d = this.opts.disksDir;
    return { disk: `${d}/${name}.qcow2`, seed: `${d}/${name}-seed.iso`, console: `${d}/${name}.console.log` };
  }

  /**
   * The VM's lock file on the host (sh/vm-lock.sh): in a directory of its own beside the disks, so
   * listings of the disks directory (drift) never see it. Removed with the VM (undefine).
   */
  lockFile(name: string): string {
    assertVmName(name);
    return `${this.opts.disksDir}/.locks/${name}.lock`;
  }

  /** `argv` run holding the VM's lock on the host. */
  private locked(name: string, argv: readonly string[]): string[] {
    return vmLockedArgv(this.lockFile(name), this.opts.vmLockWaitMs ?? 60_000, argv);
  }

  /** Runs a command built by `locked`, turning a lock that stayed taken into VmLockedError. */
  private async runLocked(name: string, argv: readonly string[], o: ExecOptions): Promise<Awaited<ReturnType<SshHost['run']>>> {
    try {
      return await this.ssh.run(this.locked(name, argv), o);
    } catch (e) {
      throw lockError(e, name, this.ssh) ?? diskFullError(e, this.ssh) ?? e;
    }
  }

  /**
   * Where rebuild job `jobId` makes the VM's new disk and seed before its swap moves them over the VM's
   * own. Ending in `.qcow2`, the new disk's base counts as in use for the image cache's pruning.
   */
  rebuildPaths(name: string, jobId: string): { disk: string; seed: string } {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(jobId)) throw new InvalidArgumentError('invalid job id');
    const { disk, seed } = this.paths(name);
    return { disk: disk.replace(/\.qcow2$/, `.rebuild-${jobId}.qcow2`), seed: seed.replace(/\.iso$/, `.rebuild-${jobId}.iso`) };
  }

  /**
   * Removes the new disks and seeds that earlier rebuilds of the VM left when killed outright (other jobs
   * than `jobId`, the running one); returns their file names.
   */
  async removeRebuildLeftovers(name: string, jobId: string, o: OpOptions = {}): Promise<string[]> {
    const r = await this.ssh.run(rebuildCleanArgv(this.opts.disksDir, name, jobId), o);
    return r.stdout.split('\n').filter(Boolean);
  }

  /** Connects (when not connected) and runs a command that does nothing: the host answers with its pinned key. */
  async probe(o: OpOptions = {}): Promise<void> {
    await this.ssh.run(probeArgv(), o);
  }

  /** Every domain (listDomains) and the files of the disks directory, in one SSH exec, without asking guests. */
  async listDomainsAndFiles(o: OpOptions = {}): Promise<{ domains: DomainInfo[]; files: DiskFile[] }> {
    const boundary = randomBytes(16).toString('hex');
    const r = await this.ssh.run(listDomainsArgv(this.uri, boundary, undefined, this.opts.disksDir), o);
    const { domains, files } = parseListing(r.stdout, boundary);
    return { domains, files: files ?? [] };
  }

  /**
   * Removes the named files of the disks directory that were last modified before `olderThan` (younger
   * ones stay: a create in flight may be writing them). Returns the names removed.
   */
  async removeOldFiles(names: readonly string[], olderThan: Date, o: OpOptions = {}): Promise<string[]> {
    if (names.length === 0) return [];
    const r = await this.ssh.run(removeOldFilesArgv(this.opts.disksDir, Math.floor(olderThan.getTime() / 1000), names), o);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((p) => p.slice(p.lastIndexOf('/') + 1));
  }

  async hostInfo(o: OpOptions = {}): Promise<HostInfo> {
    const r = await this.ssh.run(hostInfoArgv(this.uri, this.opts.imagesDir, this.opts.disksDir), o);
    const info = parseHostInfo(r.stdout);
    this.kvm = info.kvm;
    return info;
  }

  /** Every domain on the host with id, state, tags and IP, in one SSH exec. */
  async listDomains(o: OpOptions = {}): Promise<DomainInfo[]> {
    // A fresh random boundary per listing frames its sections: no domain's content can forge one.
    const boundary = randomBytes(16).toString('hex');
    const r = await this.ssh.run(listDomainsArgv(this.uri, boundary), o);
    return parseDomainList(r.stdout, boundary);
  }

  /**
   * The listing (listDomains) and, in the same SSH exec, the guest status (guestStatus's) of every running
   * domain not in `skipAgent` (VMs already known ready: their addresses come from the leases alone), each
   * agent call within `agentTimeoutS` (default 2) and all VMs at once.
   */
  async listDomainsWithGuests(
    opts: OpOptions & { skipAgent?: readonly string[]; agentTimeoutS?: number } = {},
  ): Promise<{ domains: DomainInfo[]; guests: Map<string, GuestStatus>; files: DiskFile[] | null }> {
    const boundary = randomBytes(16).toString('hex');
    const t = opts.agentTimeoutS ?? 2;
    // The disks directory's files come in the same exec (what drift compares the domains with).
    const argv = listDomainsArgv(this.uri, boundary, { skipAgent: opts.skipAgent ?? [], agentTimeoutS: t }, this.opts.disksDir);
    const r = await this.ssh.run(argv, { timeoutMs: 5 * t * 1000 + 60_000, ...opts });
    return parseListing(r.stdout, boundary);
  }

  /** One domain's full view (its snapshots too), or DomainNotFoundError. */
  async getDomain(name: string, o: OpOptions = {}): Promise<DomainInfo> {
    const [xml, state, snapshots] = await Promise.all([this.virsh(dumpXmlArgv(this.uri, name), name, o), this.domainState(name, o), this.snapshots(name, o)]);
    return { ...parseDomainXml(xml), state, ip: null, addresses: [], snapshots };
  }

  /** The domain's snapshots (named as this service names them), oldest first, in one SSH exec. */
  async snapshots(name: string, o: OpOptions = {}): Promise<SnapshotInfo[]> {
    const boundary = randomBytes(16).toString('hex');
    return parseSnapshots(await this.virsh(snapshotsArgv(this.uri, boundary, name), name, o), boundary);
  }

  /**
   * Takes an internal snapshot (disk, and memory when running; the seed is left out) described by
   * `marker`. When one of that name exists already: `mine` says whether it carries the same marker
   * (a retried job finding its own work done) or is another's.
   */
  async createSnapshot(name: string, snapshot: string, marker: string, o: OpOptions = {}): Promise<{ created: true } | { created: false; mine: boolean }> {
    // Saving a running guest's memory takes as long as its RAM is large.
    const out = (await this.virsh(this.locked(name, snapshotCreateArgv(this.uri, name, snapshot, marker)), name, { timeoutMs: 600_000, ...o })).trim();
    if (out === 'created') return { created: true };
    const m = /^exists ?(.*)$/.exec(out);
    if (!m) throw new ParseError('unexpected snapshot-create output', { stdout: out.slice(0, 200) });
    return { created: false, mine: m[1] === marker };
  }

  /** Reverts the domain to a snapshot: disk, saved definition and power state (a running one's memory too). */
  async revertSnapshot(name: string, snapshot: string, o: OpOptions = {}): Promise<void> {
    await this.virsh(this.locked(name, snapshotRevertArgv(this.uri, name, snapshot, this.paths(name).console)), name, { timeoutMs: 600_000, ...o });
  }

  /** Deletes a snapshot; one that does not exist is not an error (`existed: false`). */
  async deleteSnapshot(name: string, snapshot: string, o: OpOptions = {}): Promise<{ existed: boolean }> {
    const out = (await this.virsh(this.locked(name, snapshotDeleteArgv(this.uri, name, snapshot)), name, { timeoutMs: 600_000, ...o })).trim();
    return { existed: out === 'deleted' };
  }

  /** virsh's state text (`running`, `shut off`, …). */
  async domainState(name: string, o: OpOptions = {}): Promise<string> {
    return (await this.virsh(domainStateArgv(this.uri, name), name, o)).trim();
  }

  /**
   * Makes sure the image is in the host's content-addressed cache; reports download progress (0–100).
   * With `hashLater`, an image without a catalog checksum is returned once downloaded (`sha256` null, a
   * `dl-` path) and hashed on the host after (sh/ensure-image.sh). The version's format and virtual size
   * come in the same exec: a create or disk on it then need not read them.
   */
  async ensureImage(
    image: ImageRef,
    o: OpOptions & { refresh?: boolean; hashLater?: boolean; onProgress?: (percent: number) => void } = {},
  ): Promise<CachedImage> {
    const argv = ensureImageArgv(this.opts.imagesDir, image, o.refresh ?? false, o.hashLater ?? false);
    let last = -1;
    const exec: ExecOptions = {
      ...o,
      okExitCodes: [0, 3, 4, 5],
      onStderr: (chunk) => {
        const p = parseCurlProgress(chunk);
        if (p !== null && p > last) {
          last = p;
          o.onProgress?.(p);
        }
      },
    };
    const r = await this.ssh.run(argv, { timeoutMs: 3_600_000, ...exec });
    if (r.exitCode === 3) {
      const got = /got ([a-f0-9]{64})/.exec(r.stderr)?.[1] ?? 'unknown';
      throw new ChecksumMismatchError(image.sha256 ?? '', got, { host: this.ssh.label, image: image.name });
    }
    if (r.exitCode === 5) {
      throw new HostDiskFullError(`no room on ${this.ssh.name} for image '${image.name}': ${lastLine(r.stderr).replace(/^disk-full: /, '')}`, {
        host: this.ssh.label,
        image: image.name,
      });
    }
    if (r.exitCode === 4) {
      const curlExit = Number(/curl-exit=(\d+)/.exec(r.stderr)?.[1] ?? 0);
      const httpStatus = Number(/returned error: (\d{3})/.exec(r.stderr)?.[1] ?? 0);
      // 4xx (but 408/429) will not heal by retrying; 5xx, DNS and network errors may.
      const permanent = httpStatus >= 400 && httpStatus < 500 && httpStatus !== 408 && httpStatus !== 429;
      throw new DownloadFailedError(
        `downloading image '${image.name}' failed${httpStatus ? ` with HTTP ${httpStatus}` : ` (curl exit ${curlExit})`}`,
        !permanent,
        { host: this.ssh.label, image: image.name, curlExit, httpStatus },
      );
    }
    const out = parseEnsureImage(r.stdout);
    if (o.onProgress && last < 100) o.onProgress(100);
    const path = `${this.opts.imagesDir}/${out.file}`;
    if (out.base) {
      this.baseInfo.set(path, out.base);
      this.lastVersion.set(image.name, out.file);
    }
    return { path, sha256: out.sha256, sizeBytes: out.sizeBytes, downloaded: out.outcome === 'downloaded' };
  }

  /**
   * Verifies (re-hashes) the named images' cached versions and/or prunes their old versions that no
   * VM disk on the host uses, beyond `keep` per image (sh/image-cache.sh). One SSH exec. When a
   * disk's base cannot be known, nothing is pruned and `pruneSkipped` says why.
   */
  async imageCache(
    names: readonly string[],
    opts: { keep: number; verify: boolean; prune: boolean; graceMinutes: number },
    o: OpOptions = {},
  ): Promise<ImageCacheReport> {
    const r = await this.ssh.run(imageCacheArgv(this.opts.imagesDir, this.opts.disksDir, names, opts, this.uri), { timeoutMs: 3_600_000, ...o });
    return parseImageCache(r.stdout);
  }

  /** Creates the VM's disk as a qcow2 overlay on a cached image, at least `sizeBytes` large. Idempotent. */
  async createDisk(name: string, basePath: string, sizeBytes: number, opts: OpOptions & { path?: string } = {}): Promise<{ path: string; created: boolean }> {
    assertPositiveInt(sizeBytes, 'disk size');
    const { path, ...o } = opts;
    const disk = path ?? this.paths(name).disk;
    // Cached images are content-addressed and never change: read each one's format and size once.
    let info = this.baseInfo.get(basePath);
    if (!info) {
      info = parseQemuImgInfo((await this.ssh.run(qemuImgInfoArgv(basePath), o)).stdout);
      if (/\/(sha256-[a-f0-9]{64}|dl-[A-Za-z0-9]{6})$/.test(basePath)) this.baseInfo.set(basePath, info);
    }
    const size = Math.max(sizeBytes, info.virtualSize);
    const r = await this.runLocked(name, createDiskArgv(disk, info.format, basePath, size), o);
    return { path: disk, created: r.stdout.trim() === 'created' };
  }

  /** Writes the NoCloud seed ISO. `userData` travels on stdin, never in argv or logs. */
  async createSeed(name: string, instanceId: string, userData: string, opts: OpOptions & { path?: string } = {}): Promise<{ path: string }> {
    const { path, ...o } = opts;
    const seed = path ?? this.paths(name).seed;
    await this.runLocked(name, createSeedArgv(seed, instanceId, name), { ...o, stdin: userData });
    return { path: seed };
  }

  /**
   * Defines the domain. If one of that name exists and was made by the same operation (same instance
   * id) it is accepted as already done; any other existing domain is an AlreadyExistsError.
   */
  async defineDomain(spec: CreateVmSpec, o: OpOptions = {}): Promise<{ created: boolean }> {
    const domainType = await this.domainType(o);
    const full: DomainSpec = { ...spec, domainType, network: this.opts.network ?? { type: 'none' }, consoleLogPath: this.paths(spec.name).console };
    const xml = buildDomainXml(full);
    const r = await this.runLocked(spec.name, defineArgv(this.uri, spec.name), { ...o, stdin: xml });
    // The first line is always the script's own; only what follows @@EXISTS is the domain's XML.
    const nl = r.stdout.indexOf('\n');
    const first = nl === -1 ? r.stdout : r.stdout.slice(0, nl);
    if (first === '@@DEFINED') return { created: true };
    if (first !== '@@EXISTS') throw new ParseError('unexpected define output', { stdout: r.stdout.slice(0, 200) });
    const existing = parseDomainXml(r.stdout.slice(nl + 1));
    if (existing.instanceId === spec.instanceId) return { created: false };
    throw new AlreadyExistsError(`a domain named '${spec.name}' already exists on ${this.ssh.name}`, { host: this.ssh.label, domain: spec.name });
  }

  /**
   * A create's host work in ONE exec (sh/create-vm.sh): the cached image's check, the overlay disk, the
   * seed, define and start, then the domain as it now is. `onStep` hears each step begin and end as the
   * host does it. Stops before making anything when the image is not cached (`need-image`: download it,
   * then call again) or a domain of the name exists (`exists`: when it is the caller's own, call again with
   * `mine`). `userData` travels on stdin. Idempotent, as each step is. The base image's format and size
   * are known once this client has downloaded, listed or used that version; else a first exec reads them
   * and a second makes the VM.
   */
  async createVm(
    spec: Omit<CreateVmSpec, 'diskPath' | 'seedPath'> & { imageRef: ImageRef; diskBytes: number; userData: string; mine: boolean },
    o: OpOptions & { onStep?: (step: string, phase: 'begin' | 'end') => void } = {},
  ): Promise<CreateVmOutput> {
    const { disk, seed, console } = this.paths(spec.name);
    const domainType = await this.domainType(o);
    const xml = buildDomainXml({
      ...spec,
      diskPath: disk,
      seedPath: seed,
      domainType,
      network: this.opts.network ?? { type: 'none' },
      consoleLogPath: console,
    });
    // A step the first exec began (it stopped for the base's facts) is not begun twice.
    let begun: string | null = null;
    const onStep = (step: string, phase: 'begin' | 'end') => {
      if (phase === 'begin' && begun === step) return;
      begun = phase === 'begin' ? step : null;
      o.onStep?.(step, phase);
    };
    for (let pass = 0; ; pass++) {
      const out = await this.createVmOnce(spec, xml, { ...o, onStep });
      if (out.kind !== 'need-base') {
        if (out.kind === 'done') this.lastVersion.set(spec.imageRef.name, out.image.file);
        return out;
      }
      // Cached files never change (a dl- file only gains a second name, its hash): their facts are read once.
      this.baseInfo.set(`${this.opts.imagesDir}/${out.file}`, out.info);
      this.lastVersion.set(spec.imageRef.name, out.file);
      if (pass === 2) throw new ParseError('create-vm asked three times for the base image facts', { file: out.file });
    }
  }

  private async createVmOnce(
    spec: Omit<CreateVmSpec, 'diskPath' | 'seedPath'> & { imageRef: ImageRef; diskBytes: number; userData: string; mine: boolean },
    xml: string,
    o: OpOptions & { onStep: (step: string, phase: 'begin' | 'end') => void },
  ): Promise<CreateVmExecOutput> {
    const { disk, seed, console } = this.paths(spec.name);
    const known = spec.imageRef.sha256 ? `sha256-${spec.imageRef.sha256}` : this.lastVersion.get(spec.imageRef.name);
    const info = known ? this.baseInfo.get(`${this.opts.imagesDir}/${known}`) : undefined;
    const boundary = randomBytes(16).toString('hex');
    const argv = createVmArgv(this.uri, {
      name: spec.name,
      instanceId: spec.instanceId,
      imagesDir: this.opts.imagesDir,
      image: { name: spec.imageRef.name, sha256: spec.imageRef.sha256 },
      diskPath: disk,
      diskBytes: spec.diskBytes,
      seedPath: seed,
      consoleLog: console,
      knownBase: known && info ? { file: known, format: info.format, virtualSize: info.virtualSize } : null,
      mine: spec.mine,
      xml,
      boundary,
    });
    let partial = '';
    const onStdout = (chunk: string) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = parseStepMarker(line, boundary);
        if (m) o.onStep(m.step, m.phase);
      }
    };
    const r = await this.runLocked(spec.name, argv, { ...o, stdin: spec.userData, onStdout });
    return parseCreateVm(r.stdout, boundary);
  }

  /**
   * Makes the VM run: `started` (it was off, or shutting down: started once off), `resumed` (it was paused:
   * `virsh suspend`, or libvirt pausing it on an I/O error), `woken` (its guest had suspended it to RAM) or
   * `already` (it runs). Still shutting down after 60 s: a retryable CommandFailedError.
   */
  async start(name: string, o: OpOptions = {}): Promise<{ changed: boolean; result: 'already' | 'started' | 'resumed' | 'woken' }> {
    const out = (await this.virsh(this.locked(name, startArgv(this.uri, name, this.paths(name).console)), name, o)).trim();
    if (out !== 'already' && out !== 'started' && out !== 'resumed' && out !== 'woken') throw new ParseError('unexpected start output', { stdout: out });
    return { changed: out !== 'already', result: out };
  }

  /** Graceful shutdown (a paused VM is resumed first); powers off when the guest has not stopped within `timeoutMs`. */
  async shutdown(name: string, timeoutMs: number, o: OpOptions = {}): Promise<{ result: 'already' | 'graceful' | 'forced' }> {
    const wait = this.opts.vmLockWaitMs ?? 60_000;
    const out = (await this.virsh(this.locked(name, shutdownArgv(this.uri, name, timeoutMs)), name, { timeoutMs: timeoutMs + wait + 60_000, ...o })).trim();
    if (out !== 'already' && out !== 'graceful' && out !== 'forced') throw new ParseError('unexpected shutdown output', { stdout: out });
    return { result: out };
  }

  /** Hard power-off (`virsh destroy`). */
  async powerOff(name: string, o: OpOptions = {}): Promise<{ changed: boolean }> {
    const out = await this.virsh(this.locked(name, powerOffArgv(this.uri, name)), name, o);
    return { changed: out.trim() === 'stopped' };
  }

  /** Powers off, undefines and removes the VM's disk, seed and console log. A VM that does not exist is not an error. */
  async undefine(name: string, o: OpOptions = {}): Promise<{ existed: boolean }> {
    const { disk, seed, console } = this.paths(name);
    // virtlogd's backups of the console log (max_backups, 3 by default) are removed with it.
    const logs = [console, `${console}.0`, `${console}.1`, `${console}.2`];
    // The VM's lock file goes last, under its lock: a run waiting for it then locks a new file (vm-lock.sh).
    const r = await this.runLocked(name, undefineArgv(this.uri, name, [disk, `${disk}.part`, seed, ...logs, this.lockFile(name)]), o);
    return { existed: r.stdout.trim() === 'undefined' };
  }

  /**
   * Gives a shut-off VM `vcpus`, `memoryMiB` and a disk of at least `diskBytes` (never shrunk), and records
   * `instanceType` in its metadata (instance id and image kept). Idempotent: only what differs on the host
   * is changed; `changed` lists those parts.
   */
  async resize(
    name: string,
    to: { vcpus: number; memoryMiB: number; diskBytes: number; instanceType: string },
    o: OpOptions = {},
  ): Promise<{ changed: Array<'vcpus' | 'memory' | 'disk'> }> {
    const disk = this.paths(name).disk;
    const [d, [diskNow = null]] = await Promise.all([this.getDomain(name, o), this.diskInfo([disk], o)]);
    const meta = domainMetadataXml({ instanceId: d.instanceId, image: d.image, instanceType: to.instanceType });
    const argv = resizeArgv(this.uri, {
      name,
      vcpus: to.vcpus,
      memoryMiB: to.memoryMiB,
      diskPath: disk,
      diskBytes: to.diskBytes,
      diskNow: diskNow?.virtualSize ?? null,
      ns: DOMAIN_NS,
      metadataXml: meta,
    });
    const out = await this.virsh(this.locked(name, argv), name, o);
    const changed = [...out.matchAll(/^(vcpus|memory|disk) changed$/gm)].map((m) => m[1] as 'vcpus' | 'memory' | 'disk');
    return { changed };
  }

  /**
   * A rebuild's swap on the shut-off VM (sh/rebuild-swap.sh): its new disk (and new seed, when
   * given) take the place of the old ones by rename, then its instance metadata is written. Idempotent.
   */
  async rebuildSwap(name: string, fresh: { disk: string; seed: string | null }, metadataXml: string, o: OpOptions = {}): Promise<{ swapped: boolean }> {
    const { disk, seed } = this.paths(name);
    const [old = null, cur = null] = await this.diskInfo([disk, fresh.disk], o);
    const argv = rebuildSwapArgv(this.uri, {
      name,
      disk,
      newDisk: fresh.disk,
      seed,
      newSeed: fresh.seed,
      diskNow: old?.virtualSize ?? null,
      newDiskNow: cur?.virtualSize ?? null,
      ns: DOMAIN_NS,
      metadataXml,
    });
    const out = (await this.virsh(this.locked(name, argv), name, o)).trim();
    if (out !== 'swapped' && out !== 'already') throw new ParseError('unexpected rebuild-swap output', { stdout: out.slice(0, 200) });
    return { swapped: out === 'swapped' };
  }

  /** The VM's snapshot names; with `remove`, deletes them all first and returns what is left (nothing). */
  async rebuildSnapshots(name: string, remove: boolean, o: OpOptions = {}): Promise<string[]> {
    const argv = rebuildSnapshotsArgv(this.uri, name, remove);
    const out = await this.virsh(remove ? this.locked(name, argv) : argv, name, o);
    return out.split('\n').filter((l) => l.trim() !== '');
  }

  /** Removes files on the host (absolute paths); missing ones are not errors. */
  async removeFiles(files: readonly string[], o: OpOptions = {}): Promise<void> {
    if (files.length) await this.ssh.run(removeFilesArgv(files), o);
  }

  /** Replaces the VM's tags, in the running domain and its persistent definition. */
  async setTags(name: string, tags: Record<string, string>, o: OpOptions = {}): Promise<void> {
    assertTags(tags);
    await this.virsh(
      this.locked(name, setTagsArgv(this.uri, name, { ns: TAGS_NS, metadataXml: tagsMetadataXml(tags), description: legacyDescription(tags) })),
      name,
      o,
    );
  }

  /**
   * Readiness of the named VMs in ONE SSH exec (sh/guest-status.sh): state, addresses from the DHCP
   * lease, ARP and the guest agent, whether the agent answers and cloud-init's progress. The agent is asked
   * only about VMs not in `skipAgent` (those already known ready), each call within `agentTimeoutS`
   * (default 2), and all VMs at once: a silent guest costs the call one timeout, not one per VM.
   * VMs in `skipAgent` get agent and cloud_init `unknown`. A name that is no domain gets state null.
   */
  async guestStatus(
    names: readonly string[],
    opts: OpOptions & { agentTimeoutS?: number; skipAgent?: readonly string[] } = {},
  ): Promise<Map<string, GuestStatus>> {
    if (names.length === 0) return new Map();
    const t = opts.agentTimeoutS ?? 2;
    const skip = new Set(opts.skipAgent ?? []);
    const boundary = randomBytes(16).toString('hex');
    const argv = guestStatusArgv(
      this.uri,
      boundary,
      [...new Set(names)].map((name) => ({ name, agent: !skip.has(name) })),
      t,
    );
    // Up to 5 agent calls in a row per VM, in parallel across VMs, plus virsh's own start-up.
    const r = await this.ssh.run(argv, { timeoutMs: 5 * t * 1000 + 30_000, ...opts });
    return parseGuestStatus(r.stdout, boundary);
  }

  /**
   * What a create waiting for its guest reads, for all of `names` in one exec (guest-ready.sh): each one's
   * guestStatus (agent asked, within `agentTimeoutS`, default 2) and the cloud-init "finished" line found in
   * the last `consoleBytes` of its console log.
   */
  async guestReady(names: readonly string[], opts: OpOptions & { agentTimeoutS?: number; consoleBytes?: number } = {}): Promise<Map<string, GuestReadyFacts>> {
    if (names.length === 0) return new Map();
    const t = opts.agentTimeoutS ?? 2;
    const boundary = randomBytes(16).toString('hex');
    const vms = [...new Set(names)].map((name) => ({ name, consoleLog: this.paths(name).console }));
    const argv = guestReadyArgv(this.uri, boundary, vms, t, opts.consoleBytes ?? 64 * 1024);
    // As guestStatus: up to 5 agent calls in a row per VM, in parallel across VMs.
    const r = await this.ssh.run(argv, { timeoutMs: 5 * t * 1000 + 30_000, ...opts });
    return parseGuestReady(r.stdout, boundary);
  }

  /**
   * The last `bytes` (≤ 1 MiB) of the VM's serial console log, which virtlogd writes from its first start
   * on; null when it has none readable (a VM defined before the log existed).
   */
  async consoleTail(name: string, bytes = 64 * 1024, o: OpOptions = {}): Promise<ConsoleTail | null> {
    assertPositiveInt(bytes, 'byte count', CONSOLE_TAIL_MAX);
    const r = await this.ssh.run(consoleTailArgv(this.paths(name).console, bytes), o);
    return parseConsoleTail(r.stdout);
  }

  /** `qemu-img info` of each of `files` in one exec; null for one the automation user cannot read (missing, or a running VM's). */
  private async diskInfo(files: readonly string[], o: OpOptions): Promise<(ReturnType<typeof parseQemuImgInfo> | null)[]> {
    const boundary = randomBytes(16).toString('hex');
    return parseDiskInfo((await this.ssh.run(diskInfoArgv(boundary, files), o)).stdout, boundary, files.length);
  }

  async close(): Promise<void> {
    await this.ssh.close();
  }

  private async domainType(o: OpOptions): Promise<'kvm' | 'qemu'> {
    const t = this.opts.domainType ?? 'auto';
    if (t !== 'auto') return t;
    if (this.kvm === null) await this.hostInfo(o);
    return this.kvm ? 'kvm' : 'qemu';
  }

  /**
   * Runs a virsh-based command for one domain, turning "no such domain" into DomainNotFoundError and, for
   * one run under the VM's lock, a lock that stayed taken into VmLockedError.
   */
  private async virsh(argv: string[], name: string, o: OpOptions): Promise<string> {
    try {
      return (await this.ssh.run(argv, o)).stdout;
    } catch (e) {
      if (e instanceof CommandFailedError && isDomainNotFound(String(e.context.stderr ?? ''))) {
        throw new DomainNotFoundError(name, { host: this.ssh.label });
      }
      throw lockError(e, name, this.ssh) ?? diskFullError(e, this.ssh) ?? e;
    }
  }
}

/**
 * The HostDiskFullError of a command that failed for want of room (qemu-img, genisoimage or mv saying so:
 * ENOSPC, or a quota), else null: not retryable, the host needs space freed first.
 */
function diskFullError(e: unknown, ssh: SshHost): HostDiskFullError | null {
  if (!(e instanceof CommandFailedError)) return null;
  const stderr = String(e.context.stderr ?? '');
  if (!/No space left on device|Disk quota exceeded/.test(stderr)) return null;
  const what = stderr.split('\n').find((l) => /No space left on device|Disk quota exceeded/.test(l)) ?? '';
  return new HostDiskFullError(`no room left on ${ssh.name}: ${what.trim().slice(0, 300)}`, {
    host: ssh.label,
    argv: e.context.argv,
    stderr: e.context.stderr,
  });
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 300);
}

/** The VmLockedError of a command that failed because vm-lock.sh's wait ran out (exit 75, `vm-locked`), else null. */
function lockError(e: unknown, name: string, ssh: SshHost): VmLockedError | null {
  if (!(e instanceof CommandFailedError) || e.context.exitCode !== VM_LOCKED_EXIT || !String(e.context.stderr ?? '').includes('vm-locked:')) return null;
  return new VmLockedError(`another run of an operation on '${name}' held its lock on ${ssh.name}; try again later`, {
    host: ssh.label,
    domain: name,
    argv: e.context.argv,
  });
}
