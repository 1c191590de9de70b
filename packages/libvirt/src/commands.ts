/**
 * Argv builders: pure functions from typed, validated values to argv arrays. Multi-step host work is a
 * constant script (`./sh/NAME.sh`, see scripts.ts) run as `sh -c SCRIPT NAME ARG…`: user values reach it
 * only as positional arguments ("$1", "$2"), never pasted into the script text. Each builder's script
 * header says what it does and prints.
 */
import { InvalidArgumentError } from './errors.ts';
import { assertHttpUrl, assertImageName, assertPositiveInt, assertSha256, assertVmName } from './names.ts';
import { SCRIPT_NAMES, scriptArgv } from './scripts.ts';

/**
 * The name of every command built here, as the SSH client's commandName reports it: each script's name (its
 * `$0`, its file in `./sh/`) and the programs run directly. The worker labels its SSH metric by these
 * (anything else is `other`).
 */
export const COMMAND_NAMES = [...SCRIPT_NAMES, 'virsh', 'qemu-img', 'rm'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

const sh = scriptArgv;

function assertAbsPath(p: string): void {
  if (!p.startsWith('/') || p.includes('\0') || p.split('/').includes('..')) throw new InvalidArgumentError('path must be absolute and normalised');
}

/** A size read from the host as a script argument: its digits, or empty for one that could not be read. */
function sizeArg(n: number | null): string {
  if (n === null) return '';
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('invalid size');
  return String(n);
}

function assertUri(uri: string): void {
  if (!/^[a-z+]+:\/\/[A-Za-z0-9._:@/-]*(\?[A-Za-z0-9=&._/-]*)?$/.test(uri)) throw new InvalidArgumentError('invalid libvirt URI');
}

/** Does nothing (probe.sh): whether the host answers and presents its pinned key. */
export function probeArgv(): string[] {
  return sh('probe');
}

export function hostInfoArgv(uri: string, imagesDir: string, disksDir?: string): string[] {
  assertUri(uri);
  assertAbsPath(imagesDir);
  if (disksDir === undefined) return sh('host-info', uri, imagesDir);
  assertAbsPath(disksDir);
  return sh('host-info', uri, imagesDir, disksDir);
}

/**
 * With `guests`, the listing also asks every running domain that is not in `skipAgent` (VMs already known
 * ready) about its guest (guest-status.sh's sections, after the domains), each agent call within
 * `agentTimeoutS`: the inventory learns addresses and readiness in the same exec. Only domains named as
 * this service names VMs (DNS labels) are asked.
 */
export function listDomainsArgv(uri: string, boundary: string, guests?: { skipAgent: readonly string[]; agentTimeoutS: number }, disksDir?: string): string[] {
  assertUri(uri);
  if (!/^[a-f0-9]{32,64}$/.test(boundary)) throw new InvalidArgumentError('the listing boundary must be 32-64 hex digits');
  if (disksDir !== undefined) assertAbsPath(disksDir);
  // With `disksDir`, a FILES section lists its files (name, size, mtime) in the same exec.
  if (!guests) return sh('list-domains', uri, boundary, disksDir ?? '', '0');
  assertPositiveInt(guests.agentTimeoutS, 'agent timeout', 60);
  for (const n of guests.skipAgent) assertVmName(n);
  return sh('list-domains', uri, boundary, disksDir ?? '', String(guests.agentTimeoutS), ...guests.skipAgent);
}

/** Exit status of vm-lock.sh when the VM's lock stayed taken for its whole wait. */
export const VM_LOCKED_EXIT = 75;

/** Wraps `argv` so that it runs holding the VM's lock file `lockFile` (vm-lock.sh), waiting at most `waitMs` for it. */
export function vmLockedArgv(lockFile: string, waitMs: number, argv: readonly string[]): string[] {
  assertAbsPath(lockFile);
  assertPositiveInt(waitMs, 'lock wait', 86_400_000);
  if (argv.length === 0) throw new InvalidArgumentError('nothing to run under the VM lock');
  return sh('vm-lock', lockFile, (waitMs / 1000).toFixed(3), ...argv);
}

export function domainStateArgv(uri: string, name: string): string[] {
  assertUri(uri);
  assertVmName(name);
  return ['virsh', '-q', '-c', uri, 'domstate', name];
}

export function dumpXmlArgv(uri: string, name: string): string[] {
  assertUri(uri);
  assertVmName(name);
  return ['virsh', '-q', '-c', uri, 'dumpxml', name];
}

export function imageCacheArgv(
  imagesDir: string,
  disksDir: string,
  names: readonly string[],
  o: { keep: number; verify: boolean; prune: boolean; graceMinutes: number },
  uri = 'qemu:///system',
): string[] {
  assertUri(uri);
  assertAbsPath(imagesDir);
  assertAbsPath(disksDir);
  for (const n of names) assertImageName(n);
  if (!Number.isInteger(o.keep) || o.keep < 0) throw new InvalidArgumentError('invalid number of versions to keep');
  if (!Number.isInteger(o.graceMinutes) || o.graceMinutes < 0) throw new InvalidArgumentError('invalid grace period');
  return sh('image-cache', imagesDir, disksDir, String(o.keep), o.verify ? '1' : '0', o.prune ? '1' : '0', String(o.graceMinutes), uri, ...names);
}

export interface ImageRef {
  name: string;
  url: string;
  sha256?: string | undefined;
}

/** With `hashLater` an image without a catalog checksum is usable before its hash is known (ensure-image.sh). */
export function ensureImageArgv(imagesDir: string, image: ImageRef, refresh = false, hashLater = false): string[] {
  assertAbsPath(imagesDir);
  assertImageName(image.name);
  assertHttpUrl(image.url);
  if (image.sha256) assertSha256(image.sha256);
  return sh('ensure-image', imagesDir, image.name, image.url, image.sha256 ?? '', refresh ? '1' : '0', hashLater ? '1' : '0');
}

export function qemuImgInfoArgv(path: string): string[] {
  assertAbsPath(path);
  return ['qemu-img', 'info', '--output=json', '-U', path];
}

/** `qemu-img info --output=json` of each of `files` that can be read, in one exec (disk-info.sh; parseDiskInfo). */
export function diskInfoArgv(boundary: string, files: readonly string[]): string[] {
  if (!/^[a-f0-9]{32,64}$/.test(boundary)) throw new InvalidArgumentError('the boundary must be 32-64 hex digits');
  for (const f of files) assertAbsPath(f);
  return sh('disk-info', boundary, ...files);
}

export function createDiskArgv(diskPath: string, baseFormat: string, basePath: string, sizeBytes: number): string[] {
  assertAbsPath(diskPath);
  assertAbsPath(basePath);
  if (!/^[a-z0-9]+$/.test(baseFormat)) throw new InvalidArgumentError('invalid image format');
  assertPositiveInt(sizeBytes, 'disk size');
  return sh('create-disk', diskPath, baseFormat, basePath, String(sizeBytes));
}

export function createSeedArgv(seedPath: string, instanceId: string, hostname: string): string[] {
  assertAbsPath(seedPath);
  assertVmName(hostname);
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(instanceId)) throw new InvalidArgumentError('invalid instance id');
  return sh('create-seed', seedPath, instanceId, hostname);
}

export function defineArgv(uri: string, name: string): string[] {
  assertUri(uri);
  assertVmName(name);
  return sh('define', uri, name);
}

/** A file of the image cache as ensure-image.sh names it: its content hash, or a download whose hash may come later. */
export const CACHE_FILE_RE = /^(sha256-[a-f0-9]{64}|dl-[A-Za-z0-9]{6})$/;

export interface CreateVmArgs {
  name: string;
  instanceId: string;
  imagesDir: string;
  image: { name: string; sha256?: string | undefined };
  diskPath: string;
  diskBytes: number;
  seedPath: string;
  consoleLog: string;
  /** What the caller knows of a cached version's format and virtual size (else create-vm.sh asks: `need-base`). */
  knownBase: { file: string; format: string; virtualSize: number } | null;
  /** The domain of this name exists and is this create's own (an earlier attempt's). */
  mine: boolean;
  xml: string;
  boundary: string;
}

export function createVmArgv(uri: string, a: CreateVmArgs): string[] {
  assertUri(uri);
  assertVmName(a.name);
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(a.instanceId)) throw new InvalidArgumentError('invalid instance id');
  for (const p of [a.imagesDir, a.diskPath, a.seedPath, a.consoleLog]) assertAbsPath(p);
  assertImageName(a.image.name);
  if (a.image.sha256) assertSha256(a.image.sha256);
  assertPositiveInt(a.diskBytes, 'disk size');
  if (!/^[a-f0-9]{32,64}$/.test(a.boundary)) throw new InvalidArgumentError('the boundary must be 32-64 hex digits');
  const base = a.knownBase;
  if (base) {
    if (!CACHE_FILE_RE.test(base.file)) throw new InvalidArgumentError('invalid image cache file');
    if (!/^[a-z0-9]+$/.test(base.format)) throw new InvalidArgumentError('invalid image format');
    assertPositiveInt(base.virtualSize, 'image size');
  }
  return sh(
    'create-vm',
    uri,
    a.name,
    a.imagesDir,
    a.image.name,
    a.image.sha256 ?? '',
    a.diskPath,
    String(a.diskBytes),
    a.seedPath,
    a.instanceId,
    base?.file ?? '',
    base?.format ?? '',
    base ? String(base.virtualSize) : '',
    a.consoleLog,
    a.mine ? '1' : '0',
    a.xml,
    a.boundary,
  );
}

export function startArgv(uri: string, name: string, consoleLog?: string): string[] {
  assertUri(uri);
  assertVmName(name);
  if (consoleLog === undefined) return sh('start', uri, name);
  assertAbsPath(consoleLog);
  return sh('start', uri, name, consoleLog);
}

export function shutdownArgv(uri: string, name: string, timeoutMs: number): string[] {
  assertUri(uri);
  assertVmName(name);
  assertPositiveInt(timeoutMs, 'timeout');
  return sh('shutdown', uri, name, String(timeoutMs));
}

export function powerOffArgv(uri: string, name: string): string[] {
  assertUri(uri);
  assertVmName(name);
  return sh('power-off', uri, name);
}

export function undefineArgv(uri: string, name: string, files: readonly string[]): string[] {
  assertUri(uri);
  assertVmName(name);
  for (const f of files) assertAbsPath(f);
  return sh('undefine', uri, name, ...files);
}

export interface ResizeArgs {
  name: string;
  vcpus: number;
  memoryMiB: number;
  diskPath: string;
  diskBytes: number;
  /** The disk's virtual size as read before (disk-info), null when it could not be read. */
  diskNow: number | null;
  /** The namespace and XML of the domain's instance metadata, written last. */
  ns: string;
  metadataXml: string;
}

export function resizeArgv(uri: string, a: ResizeArgs): string[] {
  assertUri(uri);
  assertVmName(a.name);
  assertPositiveInt(a.vcpus, 'vcpus', 512);
  assertPositiveInt(a.memoryMiB, 'memory', 16 * 1024 * 1024);
  assertAbsPath(a.diskPath);
  assertPositiveInt(a.diskBytes, 'disk size');
  return sh('resize', uri, a.name, String(a.vcpus), String(a.memoryMiB * 1024), a.diskPath, String(a.diskBytes), sizeArg(a.diskNow), a.ns, a.metadataXml);
}

export function snapshotsArgv(uri: string, boundary: string, name: string): string[] {
  assertUri(uri);
  if (!/^[a-f0-9]{32,64}$/.test(boundary)) throw new InvalidArgumentError('the boundary must be 32-64 hex digits');
  assertVmName(name);
  return sh('snapshots', uri, boundary, name);
}

function assertSnapshotName(s: string): void {
  // Snapshot names follow the VM names' rule: they are pasted into virsh batches (see snapshots.sh).
  try {
    assertVmName(s);
  } catch {
    throw new InvalidArgumentError('invalid snapshot name');
  }
}

export function snapshotCreateArgv(uri: string, name: string, snapshot: string, marker: string): string[] {
  assertUri(uri);
  assertVmName(name);
  assertSnapshotName(snapshot);
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(marker)) throw new InvalidArgumentError('invalid snapshot marker');
  return sh('snapshot-create', uri, name, snapshot, marker);
}

export function snapshotRevertArgv(uri: string, name: string, snapshot: string, consoleLog: string): string[] {
  assertUri(uri);
  assertVmName(name);
  assertSnapshotName(snapshot);
  assertAbsPath(consoleLog);
  return sh('snapshot-revert', uri, name, snapshot, consoleLog);
}

export function snapshotDeleteArgv(uri: string, name: string, snapshot: string): string[] {
  assertUri(uri);
  assertVmName(name);
  assertSnapshotName(snapshot);
  return sh('snapshot-delete', uri, name, snapshot);
}

/** The tags as the domain's metadata (`metadataXml` in namespace `ns`) and as its legacy description. */
export interface SetTagsArgs {
  ns: string;
  metadataXml: string;
  description: string;
}

export function setTagsArgv(uri: string, name: string, t: SetTagsArgs): string[] {
  assertUri(uri);
  assertVmName(name);
  return sh('set-tags', uri, name, t.ns, t.metadataXml, t.description);
}

export interface GuestQuery {
  name: string;
  /** Ask the guest agent too (a VM already known ready needs only its addresses). */
  agent: boolean;
}

export function guestStatusArgv(uri: string, boundary: string, vms: readonly GuestQuery[], agentTimeoutS: number): string[] {
  assertUri(uri);
  if (!/^[a-f0-9]{32,64}$/.test(boundary)) throw new InvalidArgumentError('the boundary must be 32-64 hex digits');
  assertPositiveInt(agentTimeoutS, 'agent timeout', 60);
  const args: string[] = [];
  for (const vm of vms) {
    assertVmName(vm.name);
    args.push(vm.agent ? '1' : '0', vm.name);
  }
  return sh('guest-status', uri, boundary, String(agentTimeoutS), ...args);
}

/** One VM a create waits for: its name and its console log (Hypervisor.paths). */
export interface ReadyQuery {
  name: string;
  consoleLog: string;
}

/** guest-ready.sh: the readiness facts of every VM in `vms`, in one exec (each console searched in its last `bytes`). */
export function guestReadyArgv(uri: string, boundary: string, vms: readonly ReadyQuery[], agentTimeoutS: number, bytes: number): string[] {
  assertUri(uri);
  if (!/^[a-f0-9]{32,64}$/.test(boundary)) throw new InvalidArgumentError('the boundary must be 32-64 hex digits');
  assertPositiveInt(agentTimeoutS, 'agent timeout', 60);
  assertPositiveInt(bytes, 'byte count', CONSOLE_TAIL_MAX);
  const args: string[] = [];
  for (const vm of vms) {
    assertVmName(vm.name);
    assertAbsPath(vm.consoleLog);
    args.push(vm.name, vm.consoleLog);
  }
  return sh('guest-ready', uri, boundary, String(agentTimeoutS), String(bytes), ...args);
}

/** Largest console tail one call returns. */
export const CONSOLE_TAIL_MAX = 1 << 20;

export function consoleTailArgv(logPath: string, bytes: number): string[] {
  assertAbsPath(logPath);
  assertPositiveInt(bytes, 'byte count', CONSOLE_TAIL_MAX);
  return sh('console-tail', logPath, String(bytes));
}

export interface RebuildSwapArgs {
  name: string;
  disk: string;
  newDisk: string;
  seed: string;
  newSeed: string | null;
  /** The virtual sizes of `disk` and `newDisk` as read before (disk-info), null when unreadable. */
  diskNow: number | null;
  newDiskNow: number | null;
  ns: string;
  metadataXml: string;
}

export function rebuildSwapArgv(uri: string, a: RebuildSwapArgs): string[] {
  assertUri(uri);
  assertVmName(a.name);
  for (const f of [a.disk, a.newDisk, a.seed]) assertAbsPath(f);
  if (a.newSeed !== null) assertAbsPath(a.newSeed);
  return sh('rebuild-swap', uri, a.name, a.disk, a.newDisk, a.seed, a.newSeed ?? '', sizeArg(a.diskNow), sizeArg(a.newDiskNow), a.ns, a.metadataXml);
}

export function rebuildSnapshotsArgv(uri: string, name: string, remove: boolean): string[] {
  assertUri(uri);
  assertVmName(name);
  return sh('rebuild-snapshots', uri, name, remove ? '1' : '0');
}

export function rebuildCleanArgv(disksDir: string, name: string, keepJobId: string): string[] {
  assertAbsPath(disksDir);
  assertVmName(name);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(keepJobId)) throw new InvalidArgumentError('invalid job id');
  return sh('rebuild-clean', disksDir, name, keepJobId);
}

/** Removes files (a rebuild's new disk and seed when it fails before its swap); missing ones are not errors. */
export function removeFilesArgv(files: readonly string[]): string[] {
  for (const f of files) assertAbsPath(f);
  return ['rm' satisfies CommandName, '-f', '--', ...files];
}

export function removeOldFilesArgv(disksDir: string, cutoffEpochS: number, names: readonly string[]): string[] {
  assertAbsPath(disksDir);
  assertPositiveInt(cutoffEpochS, 'cutoff', Number.MAX_SAFE_INTEGER);
  // Names as this service names its files (no glob characters, no path): find's -name then matches exactly one.
  for (const n of names) if (!/^[a-z0-9][a-z0-9._-]{0,254}$/.test(n)) throw new InvalidArgumentError(`not a disks directory file name: ${n.slice(0, 80)}`);
  return sh('remove-old-files', disksDir, String(Math.floor(cutoffEpochS)), ...names);
}
