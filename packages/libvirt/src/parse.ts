/**
 * Pure parsers for the machine-readable output of virsh, qemu-img and the host scripts.
 * Each is tested against output captured from the real tools (test/fixtures).
 */

import { isIP } from 'node:net';
import { XMLParser } from 'fast-xml-parser';
import { ParseError } from './errors.ts';
import { type GuestAddress, type GuestStatus, parseGuestStatus } from './guest-parse.ts';
import { DOMAIN_NS, TAGS_NS } from './xml.ts';

export interface DomainInfo {
  name: string;
  uuid: string;
  /** libvirt's domain id while running, else null (the legacy API shows "-"). */
  id: number | null;
  /** virsh's state text: `running`, `shut off`, `paused`, … */
  state: string;
  /** True when the domain carries the project's metadata (it was created by this service). */
  managed: boolean;
  instanceId: string | null;
  image: string | null;
  instanceType: string | null;
  /** The rebuild job whose disk the domain has (set by its swap step); null when never rebuilt. */
  rebuiltBy?: string | null;
  tags: Record<string, string>;
  vcpus: number;
  memoryMiB: number;
  macs: string[];
  /** First IPv4 address libvirt's DHCP handed to one of the domain's MACs, when known. */
  ip: string | null;
  /** Every address libvirt's DHCP leases give the domain's MACs, in MAC order (source `lease`). */
  addresses: GuestAddress[];
  disks: string[];
  /** The domain's snapshots (named as this service names them), oldest first; empty when it has none. */
  snapshots: SnapshotInfo[];
}

/** One snapshot as `virsh snapshot-dumpxml` describes it, with what its saved domain definition says. */
export interface SnapshotInfo {
  name: string;
  /** ISO time libvirt took it. */
  createdAt: string;
  /** The domain's state when taken, in domstate's words (`running`, `shut off`, `paused`). */
  state: string;
  /** What was given as its description (the service puts the creating job's id there). */
  description: string | null;
  /** The instance type, vCPUs and memory of the definition saved with it (a revert brings those back). */
  instanceType: string | null;
  vcpus: number;
  memoryMiB: number;
}

export interface QemuImgInfo {
  format: string;
  virtualSize: number;
  actualSize: number | null;
  backingFile: string | null;
}

export interface HostInfo {
  hostname: string;
  libvirtVersion: string;
  hypervisor: string;
  kvm: boolean;
  cpus: number;
  memoryMiB: number;
  memoryAvailableMiB: number;
  imagesDirTotalBytes: number;
  imagesDirFreeBytes: number;
  /** The disks directory's file system, when asked (it may be another than the images'). */
  disksDirTotalBytes: number | null;
  disksDirFreeBytes: number | null;
}

export interface Lease {
  mac: string;
  ip: string;
}

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (name) => ['disk', 'interface', 'tag'].includes(localName(name)),
});

function localName(name: string): string {
  const i = name.indexOf(':');
  return i === -1 ? name : name.slice(i + 1);
}

type Node = Record<string, unknown>;

function text(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && '#text' in (v as Node)) return String((v as Node)['#text']);
  if (typeof v === 'object') return '';
  return String(v);
}

/** Finds the metadata child element declared in namespace `ns`, whatever prefix libvirt gave it. */
function metadataChild(metadata: unknown, ns: string): Node | null {
  if (!metadata || typeof metadata !== 'object') return null;
  for (const [key, value] of Object.entries(metadata as Node)) {
    if (key.startsWith('@_') || !value || typeof value !== 'object') continue;
    const node = value as Node;
    const declared = Object.entries(node).some(([k, v]) => (k === '@_xmlns' || k.startsWith('@_xmlns:')) && v === ns);
    if (declared) return node;
  }
  return null;
}

function childByLocalName(node: Node, name: string): unknown {
  for (const [k, v] of Object.entries(node)) if (!k.startsWith('@_') && localName(k) === name) return v;
  return undefined;
}

function decodeLegacyTags(desc: string | null): Record<string, string> | null {
  if (!desc) return null;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(desc.trim(), 'base64').toString('utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
    return out;
  } catch {
    return null;
  }
}

function toMiB(value: string | null, unit: string | undefined): number {
  const n = Number(value ?? 0);
  const factor: Record<string, number> = { b: 1 / 1048576, bytes: 1 / 1048576, k: 1 / 1024, kib: 1 / 1024, m: 1, mib: 1, g: 1024, gib: 1024 };
  return Math.round(n * (factor[(unit ?? 'KiB').toLowerCase()] ?? 1 / 1024));
}

function parseXml(source: string, what: string): Node {
  try {
    return xml.parse(source) as Node;
  } catch (e) {
    throw new ParseError(`${what} XML does not parse: ${(e as Error).message}`);
  }
}

/** Parses `virsh dumpxml` output. State, IP and snapshots come from elsewhere and are filled in by the caller. */
export function parseDomainXml(source: string): Omit<DomainInfo, 'state' | 'ip' | 'addresses' | 'snapshots'> {
  return domainFromNode(parseXml(source, 'domain').domain);
}

function domainFromNode(node: unknown): Omit<DomainInfo, 'state' | 'ip' | 'addresses' | 'snapshots'> {
  const d = node as Node | undefined;
  if (!d || typeof d !== 'object') throw new ParseError('no <domain> element in virsh dumpxml output');
  const name = text(d.name);
  const uuid = text(d.uuid);
  if (!name || !uuid) throw new ParseError('domain XML lacks name or uuid');
  const idAttr = d['@_id'];
  const meta = metadataChild(d.metadata, DOMAIN_NS);
  const tagsNode = metadataChild(d.metadata, TAGS_NS);
  let tags: Record<string, string> | null = null;
  if (tagsNode) {
    tags = {};
    const items = (childByLocalName(tagsNode, 'tag') as Node[] | undefined) ?? [];
    for (const t of items) {
      const k = t['@_key'];
      if (typeof k === 'string') tags[k] = text(t) ?? '';
    }
  }
  tags ??= decodeLegacyTags(text(d.description)) ?? {};
  const devices = (d.devices ?? {}) as Node;
  const disks = ((devices.disk as Node[] | undefined) ?? [])
    .map((x) => (x.source as Node | undefined)?.['@_file'])
    .filter((x): x is string => typeof x === 'string');
  const macs = ((devices.interface as Node[] | undefined) ?? [])
    .map((x) => (x.mac as Node | undefined)?.['@_address'])
    .filter((x): x is string => typeof x === 'string');
  const memory = d.memory as Node | string | undefined;
  return {
    name,
    uuid,
    id: typeof idAttr === 'string' && /^\d+$/.test(idAttr) ? Number(idAttr) : null,
    managed: meta !== null,
    instanceId: meta ? text(childByLocalName(meta, 'instance-id')) : null,
    image: meta ? text(childByLocalName(meta, 'image')) : null,
    instanceType: meta ? text(childByLocalName(meta, 'instance-type')) : null,
    rebuiltBy: meta ? text(childByLocalName(meta, 'rebuilt-by')) : null,
    tags,
    vcpus: Number(text(d.vcpu) ?? 0),
    memoryMiB: toMiB(text(memory), typeof memory === 'object' ? (memory['@_unit'] as string | undefined) : undefined),
    macs,
    disks,
  };
}

/** libvirt's snapshot states in domstate's words (the VM view's vocabulary). */
const SNAPSHOT_STATES: Record<string, string> = { shutoff: 'shut off', running: 'running', paused: 'paused', crashed: 'crashed' };

/** Parses `virsh snapshot-dumpxml` output. */
export function parseSnapshotXml(source: string): SnapshotInfo {
  const s = parseXml(source, 'snapshot').domainsnapshot as Node | undefined;
  if (!s || typeof s !== 'object') throw new ParseError('no <domainsnapshot> element in virsh snapshot-dumpxml output');
  const name = text(s.name);
  const created = Number(text(s.creationTime));
  if (!name || !Number.isFinite(created)) throw new ParseError('snapshot XML lacks name or creationTime');
  const state = text(s.state) ?? '';
  const d = s.domain ? domainFromNode(s.domain) : null;
  return {
    name,
    createdAt: new Date(created * 1000).toISOString(),
    state: SNAPSHOT_STATES[state] ?? state,
    description: text(s.description),
    instanceType: d?.instanceType ?? null,
    vcpus: d?.vcpus ?? 0,
    memoryMiB: d?.memoryMiB ?? 0,
  };
}

/** Parses the `SNAPSHOT KEY NAME` sections (sh/snapshots.sh and sh/list-domains.sh) into each key's snapshots, oldest first. */
function snapshotSections(sections: Array<{ head: string; lines: string[] }>): Map<string, SnapshotInfo[]> {
  const out = new Map<string, SnapshotInfo[]>();
  for (const { head, lines } of sections) {
    const m = /^SNAPSHOT (\S+) (\S+)$/.exec(head);
    if (!m?.[1]) continue;
    const body = lines.join('\n').trim();
    if (!body) continue; // deleted between listing and dumping
    const list = out.get(m[1]) ?? [];
    list.push(parseSnapshotXml(body));
    out.set(m[1], list);
  }
  for (const list of out.values()) list.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  return out;
}

function splitSections(output: string, boundary: string): Array<{ head: string; lines: string[] }> {
  const prefix = `@@${boundary} `;
  const sections: Array<{ head: string; lines: string[] }> = [];
  for (const line of output.split('\n')) {
    if (line.startsWith(prefix)) sections.push({ head: line.slice(prefix.length), lines: [] });
    else sections.at(-1)?.lines.push(line);
  }
  if (sections.at(-1)?.head !== 'DONE') throw new ParseError('output is incomplete (no DONE marker)');
  return sections;
}

/** Parses the output of sh/snapshots.sh: one domain's snapshots, oldest first. */
export function parseSnapshots(output: string, boundary: string): SnapshotInfo[] {
  return [...snapshotSections(splitSections(output, boundary)).values()].flat();
}

/** Parses the files of libvirt's dnsmasq lease status (`/var/lib/libvirt/dnsmasq/*.status`, JSON arrays). */
export function parseLeaseStatus(json: string): Lease[] {
  const s = json.trim();
  if (!s) return [];
  let arr: unknown;
  try {
    arr = JSON.parse(s);
  } catch {
    throw new ParseError('lease status is not JSON');
  }
  if (!Array.isArray(arr)) return [];
  return arr.flatMap((e: Node) =>
    typeof e['mac-address'] === 'string' && typeof e['ip-address'] === 'string' ? [{ mac: e['mac-address'].toLowerCase(), ip: e['ip-address'] }] : [],
  );
}

/**
 * Parses the output of the one-exec listing script (sh/list-domains.sh): lease files, then per domain its
 * XML and state, each section opened by a whole line `@@BOUNDARY NAME`. Only such lines are markers, and
 * the boundary is random per run, so nothing a domain or lease file holds can open or close a section.
 * A domain that vanished between listing and dumping has no XML or state and is skipped.
 */
export function parseDomainList(output: string, boundary: string): DomainInfo[] {
  const sections = splitSections(output, boundary);
  const snapshots = snapshotSections(sections);
  const leases = new Map<string, string[]>();
  const domains: Array<{ uuid: string; xml: string; state: string }> = [];
  for (const { head, lines } of sections) {
    const body = lines.join('\n').trim();
    if (head === 'LEASEFILE') {
      for (const l of parseLeaseStatus(body)) {
        const ips = leases.get(l.mac) ?? [];
        if (!ips.includes(l.ip)) ips.push(l.ip);
        leases.set(l.mac, ips);
      }
    } else if (head.startsWith('DOMAIN ')) {
      domains.push({ uuid: head.slice('DOMAIN '.length), xml: body, state: '' });
    } else if (head === 'STATE') {
      const d = domains.at(-1);
      if (!d || d.state) throw new ParseError('listing output has a state without its domain');
      d.state = body.split('\n')[0]?.trim() ?? '';
    } else if (head !== 'DOMAINS' && head !== 'DONE' && head !== 'FILES' && head !== 'SNAPSHOTS' && !head.startsWith('SNAPSHOT ')) {
      throw new ParseError('unexpected section in listing output', { section: head.slice(0, 80) });
    }
  }
  const out: DomainInfo[] = [];
  for (const d of domains) {
    if (!d.xml || !d.state) continue;
    const info = parseDomainXml(d.xml);
    if (info.uuid !== d.uuid) throw new ParseError("listing output has a domain under another domain's marker", { uuid: d.uuid });
    const addresses = info.macs.flatMap((m) => leaseAddresses(m.toLowerCase(), leases.get(m.toLowerCase()) ?? []));
    const ip = addresses.find((a) => a.family === 'ipv4')?.ip ?? null;
    out.push({ ...info, state: d.state, ip, addresses, snapshots: snapshots.get(d.uuid) ?? [] });
  }
  return out;
}

function leaseAddresses(mac: string, ips: string[]): GuestAddress[] {
  return ips.flatMap((ip) => {
    const v = isIP(ip);
    return v === 0 ? [] : [{ ip, family: v === 4 ? ('ipv4' as const) : ('ipv6' as const), mac, source: 'lease' as const }];
  });
}

/**
 * Parses the listing with its guest sections (sh/list-domains.sh with guests): the domains, and the guest
 * status of each running domain that was asked about. The guest sections come after the domains' and
 * begin with the first `VM` marker.
 */
export function parseListing(output: string, boundary: string): { domains: DomainInfo[]; guests: Map<string, GuestStatus>; files: DiskFile[] | null } {
  const lines = output.split('\n');
  const files = parseDiskFiles(output, boundary);
  const first = lines.findIndex((l) => l.startsWith(`@@${boundary} VM `));
  if (first === -1) return { domains: parseDomainList(output, boundary), guests: new Map(), files };
  // The guest part ends with the listing's DONE; the domains' part, complete once a guest section began, gets one too.
  const domains = parseDomainList([...lines.slice(0, first), `@@${boundary} DONE`].join('\n'), boundary);
  return { domains, guests: parseGuestStatus(lines.slice(first).join('\n'), boundary), files };
}

/** A file of a host's disks directory, as the listing saw it. */
export interface DiskFile {
  name: string;
  sizeBytes: number;
  /** Last modification, in ms since the epoch. */
  mtimeMs: number;
}

/**
 * The listing's FILES section (`MTIME SIZE NAME` lines of the disks directory), or null when the listing
 * had none (no disks directory given, or it does not exist). Lines that do not parse (a name with a
 * newline) are skipped: drift only acts on names it can read.
 */
export function parseDiskFiles(output: string, boundary: string): DiskFile[] | null {
  const section = splitSections(output, boundary).find((s) => s.head === 'FILES');
  if (!section) return null;
  return section.lines.flatMap((l) => {
    const m = /^(\d+(?:\.\d+)?) (\d+) ([^/\s]+)$/.exec(l);
    return m?.[1] && m[2] && m[3] ? [{ name: m[3], sizeBytes: Number(m[2]), mtimeMs: Math.round(Number(m[1]) * 1000) }] : [];
  });
}

/** Parses `qemu-img info --output=json`. */
export function parseQemuImgInfo(json: string): QemuImgInfo {
  let o: Node;
  try {
    o = JSON.parse(json) as Node;
  } catch {
    throw new ParseError('qemu-img info output is not JSON');
  }
  if (typeof o.format !== 'string' || typeof o['virtual-size'] !== 'number') throw new ParseError('qemu-img info lacks format or virtual-size');
  return {
    format: o.format,
    virtualSize: o['virtual-size'],
    actualSize: typeof o['actual-size'] === 'number' ? o['actual-size'] : null,
    backingFile: typeof o['backing-filename'] === 'string' ? o['backing-filename'] : null,
  };
}

/**
 * Parses disk-info.sh's output for `count` files: each file's `qemu-img info` (`@@BOUNDARY INFO I` and its
 * JSON), null for one the host could not read. Without the final `@@BOUNDARY DONE` the output is cut short.
 */
export function parseDiskInfo(output: string, boundary: string, count: number): (QemuImgInfo | null)[] {
  const out: (QemuImgInfo | null)[] = Array.from({ length: count }, () => null);
  const done = output.lastIndexOf(`@@${boundary} DONE`);
  if (done === -1) throw new ParseError('disk-info output is cut short', { stdout: output.slice(-300) });
  const parts = output.slice(0, done).split(new RegExp(`^@@${boundary} INFO (\\d+)\n`, 'm'));
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const at = Number(parts[i]) - 1;
    if (!Number.isInteger(at) || at < 0 || at >= count) throw new ParseError('disk-info names a file it was not given', { index: parts[i] });
    out[at] = parseQemuImgInfo(parts[i + 1] ?? '');
  }
  return out;
}

/** What ensure-image.sh reports: the cache file now holding the image and, when qemu-img could read it, its facts. */
export interface EnsureImageOutput {
  outcome: 'cached' | 'downloaded';
  /** `sha256-HEX`, or `dl-XXXXXX` (hashed later on the host). */
  file: string;
  sha256: string | null;
  sizeBytes: number;
  base: QemuImgInfo | null;
}

/** Parses ensure-image.sh's output (a successful run's): `cached|downloaded FILE SIZE`, then the file's `qemu-img info` JSON. */
export function parseEnsureImage(stdout: string): EnsureImageOutput {
  const m = /^(cached|downloaded) (sha256-([a-f0-9]{64})|dl-[A-Za-z0-9]{6}) (\d+)$/m.exec(stdout);
  if (!m?.[2] || !m[4]) throw new ParseError('unexpected ensure-image output', { stdout: stdout.slice(0, 500) });
  const json = stdout.slice(m.index + m[0].length).trim();
  return {
    outcome: m[1] === 'downloaded' ? 'downloaded' : 'cached',
    file: m[2],
    sha256: m[3] ?? null,
    sizeBytes: Number(m[4]),
    base: json ? tryQemuImgInfo(json) : null,
  };
}

/** The facts are an optimisation (a create reads them again when not given): a file qemu-img cannot read is still cached. */
function tryQemuImgInfo(json: string): QemuImgInfo | null {
  try {
    return parseQemuImgInfo(json);
  } catch {
    return null;
  }
}

/** Parses the `key=value` lines of the host-info script plus `virsh version`'s `Key: value` lines. */
export function parseHostInfo(output: string): HostInfo {
  const kv = new Map<string, string>();
  for (const line of output.split('\n')) {
    const m = /^([a-z_]+)=(.*)$/.exec(line) ?? /^([A-Za-z ]+):\s*(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) kv.set(m[1].trim(), m[2].trim());
  }
  const num = (k: string) => {
    const v = kv.get(k);
    if (v === undefined || !/^\d+$/.test(v)) throw new ParseError(`host info lacks ${k}`);
    return Number(v);
  };
  // virsh prints "Running against daemon" only when it differs from the library it uses.
  const daemon = kv.get('Running against daemon') ?? kv.get('Using library')?.replace(/^libvirt\s+/, '');
  if (!daemon) throw new ParseError('host info lacks the libvirt daemon version');
  return {
    hostname: kv.get('hostname') ?? '',
    libvirtVersion: daemon,
    hypervisor: kv.get('Running hypervisor') ?? 'unknown',
    kvm: kv.get('kvm') === '1',
    cpus: num('cpus'),
    memoryMiB: Math.floor(num('mem_kib') / 1024),
    memoryAvailableMiB: Math.floor(num('mem_avail_kib') / 1024),
    imagesDirTotalBytes: num('disk_total'),
    imagesDirFreeBytes: num('disk_free'),
    disksDirTotalBytes: kv.has('disks_total') ? num('disks_total') : null,
    disksDirFreeBytes: kv.has('disks_free') ? num('disks_free') : null,
  };
}

/** Last percentage in a chunk of curl's `--progress-bar` output (`\r###…  42.3%`), or null. */
export function parseCurlProgress(chunk: string): number | null {
  const all = [...chunk.matchAll(/(\d{1,3}(?:[.,]\d)?)%/g)];
  const last = all[all.length - 1]?.[1];
  if (last === undefined) return null;
  const n = Number(last.replace(',', '.'));
  return n >= 0 && n <= 100 ? n : null;
}

/** Virsh's error text for a missing domain (stderr), across libvirt versions. */
export function isDomainNotFound(stderr: string): boolean {
  return /failed to get domain|Domain not found|no domain with matching/i.test(stderr);
}

/** One catalog image in a host's cache, as the image-cache command reports it. */
export interface CacheImageState {
  name: string;
  /** The version its name points to, or null when it is not cached. */
  sha256: string | null;
  sizeBytes: number;
  /** Whether the cached content was re-hashed and matched (`corrupt`: it did not and was removed); null when not checked. */
  verified: 'ok' | 'corrupt' | null;
}

export interface ImageCacheReport {
  images: CacheImageState[];
  pruned: Array<{ name: string; sha256: string }>;
  /** Why pruning was asked for but nothing was pruned (e.g. a disk whose base could not be read); empty otherwise. */
  pruneSkipped: string[];
}

/** Parses the image-cache command's output (`image NAME HEX|- SIZE ok|corrupt|-`, `pruned NAME HEX`, `prune-skipped WHY`). */
export function parseImageCache(output: string): ImageCacheReport {
  const out: ImageCacheReport = { images: [], pruned: [], pruneSkipped: [] };
  for (const line of output.split('\n')) {
    const img = /^image (\S+) ([a-f0-9]{64}|-) (\d+) (ok|corrupt|-)$/.exec(line);
    if (img) {
      const [, name = '', hex = '-', size = '0', v = '-'] = img;
      out.images.push({ name, sha256: hex === '-' ? null : hex, sizeBytes: Number(size), verified: v === '-' ? null : (v as 'ok' | 'corrupt') });
      continue;
    }
    const pr = /^pruned (\S+) ([a-f0-9]{64})$/.exec(line);
    const skipped = /^prune-skipped (.+)$/.exec(line);
    if (pr) out.pruned.push({ name: pr[1] ?? '', sha256: pr[2] ?? '' });
    else if (skipped) out.pruneSkipped.push(skipped[1] ?? '');
    else if (line.trim()) throw new ParseError('unexpected image-cache output', { line: line.slice(0, 200) });
  }
  return out;
}

/** What one create-vm exec (create-vm.sh) ended with, as Hypervisor.createVm returns it. */
export type CreateVmOutput =
  /** A domain of the VM's name exists (its XML): nothing was made. */
  | { kind: 'exists'; xml: string }
  /** The image is not cached: nothing was made. */
  | { kind: 'need-image' }
  | {
      kind: 'done';
      /** The image cache's file the disk is based on (`sha256-HEX` or `dl-XXXXXX`), its hash when known. */
      image: { file: string; sha256: string | null; sizeBytes: number };
      domain: DomainInfo;
    };

/** A create-vm exec's output: also `need-base` (the base's facts were not given: here they are; run again). */
export type CreateVmExecOutput = CreateVmOutput | { kind: 'need-base'; file: string; info: QemuImgInfo };

/** A step marker of create-vm.sh's output (`@@BOUNDARY BEGIN|END STEP`), else null. */
export function parseStepMarker(line: string, boundary: string): { step: string; phase: 'begin' | 'end' } | null {
  const m = /^@@([a-f0-9]+) (BEGIN|END) ([a-z-]+)$/.exec(line);
  if (!m || m[1] !== boundary || !m[3]) return null;
  return { step: m[3], phase: m[2] === 'BEGIN' ? 'begin' : 'end' };
}

/** Parses a whole create-vm.sh output: the domain it made and started, or why it stopped before making anything. */
export function parseCreateVm(stdout: string, boundary: string): CreateVmExecOutput {
  const mark = `@@${boundary} `;
  const at = (word: string) => stdout.indexOf(`${mark}${word}`);
  const exists = at('EXISTS\n');
  if (exists === 0) return { kind: 'exists', xml: stdout.slice(exists + mark.length + 'EXISTS\n'.length) };
  if (at('NEED-IMAGE\n') !== -1) return { kind: 'need-image' };
  const file = '(sha256-([a-f0-9]{64})|dl-[A-Za-z0-9]{6})';
  const needBase = at('NEED-BASE\n');
  if (needBase !== -1) {
    const info = new RegExp(`^${mark}BASE-INFO ${file}\n`, 'm').exec(stdout);
    if (!info?.[1]) throw new ParseError('create-vm asked for the base without naming it', { stdout: stdout.slice(-500) });
    return { kind: 'need-base', file: info[1], info: parseQemuImgInfo(stdout.slice(info.index + info[0].length, needBase)) };
  }
  const image = new RegExp(`^${mark}IMAGE ${file} (\\d+)$`, 'm').exec(stdout);
  const dom = at('DOMAIN\n');
  if (!image?.[1] || !image[3] || dom === -1) throw new ParseError('unexpected create-vm output', { stdout: stdout.slice(-500) });
  const rest = stdout.slice(dom + mark.length + 'DOMAIN\n'.length);
  const end = rest.lastIndexOf('</domain>');
  const state = rest
    .slice(end + '</domain>'.length)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .at(-1);
  if (end === -1 || !state) throw new ParseError('create-vm output lacks the domain or its state', { stdout: stdout.slice(-500) });
  const d = parseDomainXml(rest.slice(0, end + '</domain>'.length));
  return {
    kind: 'done',
    image: { file: image[1], sha256: image[2] ?? null, sizeBytes: Number(image[3]) },
    domain: { ...d, state, ip: null, addresses: [], snapshots: [] },
  };
}
