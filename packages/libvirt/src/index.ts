/**
 * @provisioner/libvirt: a typed client for libvirt hypervisor hosts over SSH.
 *
 * ```ts
 * const hv = new Hypervisor({ ssh: { host, port: 2222, username: 'provisioner', privateKey, hostKeyFingerprints: [fp] },
 *   imagesDir: '/var/lib/provisioner/images', disksDir: '/var/lib/provisioner/disks' });
 * const image = await hv.ensureImage({ name: 'debian-12', url }, { onProgress: (p) => console.log(p) });
 * ```
 */

export {
  COMMAND_NAMES,
  CONSOLE_TAIL_MAX,
  type CommandName,
  type CreateVmArgs,
  consoleTailArgv,
  createVmArgv,
  type GuestQuery,
  guestReadyArgv,
  guestStatusArgv,
  type ImageRef,
  removeOldFilesArgv,
  resizeArgv,
} from './commands.ts';
export * from './errors.ts';
export {
  type AgentState,
  type CloudInitState,
  type ConsoleTail,
  type GuestAddress,
  type GuestReadyFacts,
  type GuestStatus,
  parseAgentInterfaces,
  parseConsoleTail,
  parseDomIfAddr,
  parseGuestReady,
  parseGuestStatus,
} from './guest-parse.ts';
export { type CachedImage, type CreateVmSpec, Hypervisor, type HypervisorOptions, type OpOptions } from './hypervisor.ts';
export * from './names.ts';
export {
  type CacheImageState,
  type CreateVmOutput,
  type DiskFile,
  type DomainInfo,
  type HostInfo,
  type ImageCacheReport,
  parseCreateVm,
  parseCurlProgress,
  parseDiskFiles,
  parseDomainList,
  parseDomainXml,
  parseHostInfo,
  parseImageCache,
  parseLeaseStatus,
  parseListing,
  parseQemuImgInfo,
  parseSnapshots,
  parseSnapshotXml,
  parseStepMarker,
  type QemuImgInfo,
  type SnapshotInfo,
} from './parse.ts';
export { joinArgv, quoteArg } from './quote.ts';
export { type CommandObservation, commandName, type ExecOptions, type ExecResult, fingerprintOf, SshHost, type SshOptions } from './ssh.ts';
export { buildDomainXml, DOMAIN_NS, type DomainSpec, domainMetadataXml, legacyDescription, type NetworkSpec, TAGS_NS, tagsMetadataXml } from './xml.ts';
