import { InvalidArgumentError } from './errors.ts';
import { assertImageName, assertPositiveInt, assertTags, assertVmName, NET_NAME_RE } from './names.ts';

/** XML namespace of the project's own domain metadata (managed flag, instance id, image, type). */
export const DOMAIN_NS = 'https://provisioner.dev/xmlns/domain/1';
/** XML namespace of the tags; kept apart so that retagging never rewrites the other metadata. */
export const TAGS_NS = 'https://provisioner.dev/xmlns/tags/1';

export type NetworkSpec = { type: 'network'; name: string } | { type: 'bridge'; name: string } | { type: 'none' };

export interface DomainSpec {
  name: string;
  /** Unique per create operation: lets a retried define recognise its own domain. */
  instanceId: string;
  vcpus: number;
  memoryMiB: number;
  diskPath: string;
  seedPath: string | null;
  /** Where virtlogd writes the serial console (bounded by its max_size/max_backups); none when null/absent. */
  consoleLogPath?: string | null;
  network: NetworkSpec;
  domainType: 'kvm' | 'qemu';
  tags: Record<string, string>;
  image?: string;
  instanceType?: string;
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}

/** Old service's tag storage: the base64 of the JSON tag object, kept so either service can read a host. */
export function legacyDescription(tags: Record<string, string>): string {
  return Buffer.from(JSON.stringify(tags), 'utf8').toString('base64');
}

/** The `<prov:tags>` element as given to `virsh metadata --set` or embedded in a domain. */
export function tagsMetadataXml(tags: Record<string, string>): string {
  assertTags(tags);
  const items = Object.entries(tags)
    .map(([k, v]) => `<tag key="${escapeXml(k)}">${escapeXml(v)}</tag>`)
    .join('');
  return `<tags xmlns="${TAGS_NS}">${items}</tags>`;
}

/** The `<prov:domain>` element (instance id, image, instance type, rebuilding job) as built into a domain or given to `virsh metadata --set`. */
export function domainMetadataXml(spec: {
  instanceId?: string | null | undefined;
  image?: string | null | undefined;
  instanceType?: string | null | undefined;
  rebuiltBy?: string | null | undefined;
}): string {
  const parts = spec.instanceId ? [`<instance-id>${escapeXml(spec.instanceId)}</instance-id>`] : [];
  if (spec.image) parts.push(`<image>${escapeXml(spec.image)}</image>`);
  if (spec.instanceType) parts.push(`<instance-type>${escapeXml(spec.instanceType)}</instance-type>`);
  if (spec.rebuiltBy) parts.push(`<rebuilt-by>${escapeXml(spec.rebuiltBy)}</rebuilt-by>`);
  return `<domain xmlns="${DOMAIN_NS}">${parts.join('')}</domain>`;
}

function interfaceXml(net: NetworkSpec): string {
  if (net.type === 'none') return '';
  if (!NET_NAME_RE.test(net.name)) throw new InvalidArgumentError('invalid network or bridge name');
  const src = net.type === 'network' ? `<source network="${net.name}"/>` : `<source bridge="${net.name}"/>`;
  return `<interface type="${net.type}">${src}<model type="virtio"/></interface>`;
}

/** Builds the libvirt domain XML for a VM. Pure; every value is validated and escaped. */
export function buildDomainXml(spec: DomainSpec): string {
  assertVmName(spec.name);
  assertPositiveInt(spec.vcpus, 'vcpus', 512);
  assertPositiveInt(spec.memoryMiB, 'memory', 16 * 1024 * 1024);
  if (spec.image) assertImageName(spec.image);
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(spec.instanceId)) throw new InvalidArgumentError('invalid instance id');
  const abs = (p: string) => {
    if (!p.startsWith('/') || p.includes('\0')) throw new InvalidArgumentError('paths must be absolute');
    return escapeXml(p);
  };
  const cpu = spec.domainType === 'kvm' ? '<cpu mode="host-passthrough"/>' : '';
  // The seed is a read-only virtio disk, not a SATA CD-ROM: cloud kernels such as Debian's
  // linux-image-cloud-amd64 have no AHCI driver, so a SATA seed is invisible and cloud-init disables itself.
  // It stays out of snapshots (internal snapshots cannot hold a read-only raw disk).
  const seed = spec.seedPath
    ? `<disk type="file" device="disk" snapshot="no"><driver name="qemu" type="raw"/><source file="${abs(spec.seedPath)}"/><target dev="vdb" bus="virtio"/><readonly/></disk>`
    : '';
  return [
    `<domain type="${spec.domainType === 'kvm' ? 'kvm' : 'qemu'}">`,
    `<name>${spec.name}</name>`,
    `<description>${legacyDescription(spec.tags)}</description>`,
    `<metadata>${domainMetadataXml(spec)}${tagsMetadataXml(spec.tags)}</metadata>`,
    `<memory unit="MiB">${spec.memoryMiB}</memory>`,
    `<vcpu>${spec.vcpus}</vcpu>`,
    '<os><type arch="x86_64">hvm</type></os>',
    '<features><acpi/><apic/></features>',
    cpu,
    '<clock offset="utc"/>',
    '<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>',
    '<devices>',
    `<disk type="file" device="disk"><driver name="qemu" type="qcow2" discard="unmap"/><source file="${abs(spec.diskPath)}"/><target dev="vda" bus="virtio"/><boot order="1"/></disk>`,
    seed,
    interfaceXml(spec.network),
    // The console stays a pty (`virsh console`); virtlogd also appends what it prints to a file. Append,
    // not truncate: truncating makes virtlogd recreate the file as root's 0600, unreadable by the
    // automation user (start.sh creates it as that user first).
    spec.consoleLogPath ? `<serial type="pty"><log file="${abs(spec.consoleLogPath)}" append="on"/></serial>` : '<serial type="pty"/>',
    '<console type="pty"/>',
    // The guest agent's channel: lets the host ask a guest for its addresses and cloud-init's state.
    '<channel type="unix"><target type="virtio" name="org.qemu.guest_agent.0"/></channel>',
    '</devices>',
    '</domain>',
  ].join('');
}
