import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../src/errors.ts';
import { parseDomainXml } from '../src/parse.ts';
import { buildDomainXml, type DomainSpec, legacyDescription, tagsMetadataXml } from '../src/xml.ts';

const spec: DomainSpec = {
  name: 'amber-otter',
  instanceId: 'job-123',
  vcpus: 2,
  memoryMiB: 1024,
  diskPath: '/var/lib/provisioner/disks/amber-otter.qcow2',
  seedPath: '/var/lib/provisioner/disks/amber-otter-seed.iso',
  network: { type: 'network', name: 'default' },
  domainType: 'qemu',
  tags: { owner: 'alice', note: `<script>&"'</script>` },
  image: 'v0.76.0',
  instanceType: 'small',
};

describe('buildDomainXml', () => {
  it('round-trips through the parser used on virsh dumpxml', () => {
    const xml = buildDomainXml(spec);
    const d = parseDomainXml(xml.replace('<name>', '<uuid>0b5b3fd4-3fc1-4e8f-8a4f-3b7f3d0b1f11</uuid><name>'));
    expect(d).toMatchObject({
      name: 'amber-otter',
      managed: true,
      instanceId: 'job-123',
      image: 'v0.76.0',
      instanceType: 'small',
      tags: spec.tags,
      vcpus: 2,
      memoryMiB: 1024,
      disks: [spec.diskPath, spec.seedPath],
    });
  });

  it('escapes tag values and writes the legacy base64 description', () => {
    const xml = buildDomainXml(spec);
    expect(xml).not.toContain('<script>');
    expect(xml).toContain(`<description>${legacyDescription(spec.tags)}</description>`);
    expect(JSON.parse(Buffer.from(legacyDescription(spec.tags), 'base64').toString())).toEqual(spec.tags);
  });

  it('uses the domain type and network it is given', () => {
    expect(buildDomainXml({ ...spec, domainType: 'kvm' })).toMatch(/^<domain type="kvm">.*host-passthrough/);
    expect(buildDomainXml({ ...spec, network: { type: 'none' } })).not.toContain('<interface');
    expect(buildDomainXml({ ...spec, network: { type: 'bridge', name: 'br0' } })).toContain('<source bridge="br0"/>');
    expect(buildDomainXml({ ...spec, seedPath: null })).not.toContain('-seed.iso');
  });

  it('attaches the seed where cloud kernels without AHCI see it, read-only and out of snapshots', () => {
    const xml = buildDomainXml(spec);
    const seedDisk = xml.match(/<disk[^>]*>(?:(?!<\/disk>).)*-seed\.iso(?:(?!<\/disk>).)*<\/disk>/)?.[0] ?? '';
    expect(seedDisk).toContain('bus="virtio"');
    expect(seedDisk).toContain('<readonly/>');
    expect(seedDisk).toContain('snapshot="no"');
    expect(xml).not.toContain('bus="sata"');
    // Only the root disk boots, whatever the seed holds.
    expect(xml.match(/<boot order="1"\/>/g)).toHaveLength(1);
    expect(xml).toContain('<target type="virtio" name="org.qemu.guest_agent.0"/>');
  });

  it.each([
    { name: '; rm -rf /' },
    { name: 'Bad' },
    { vcpus: 0 },
    { memoryMiB: 1.5 },
    { diskPath: 'relative.qcow2' },
    { network: { type: 'network', name: 'x"/><evil' } },
    { tags: { 'bad key': 'v' } },
    { instanceId: '../x' },
  ] as Partial<DomainSpec>[])('rejects %j', (over) => {
    expect(() => buildDomainXml({ ...spec, ...over })).toThrow(InvalidArgumentError);
  });

  it('builds the tag metadata element for virsh metadata --set', () => {
    expect(tagsMetadataXml({ a: '1 & 2' })).toBe('<tags xmlns="https://provisioner.dev/xmlns/tags/1"><tag key="a">1 &amp; 2</tag></tags>');
  });
});

describe('parseDomainXml on domains the project did not make', () => {
  it('reads old-service tags from the base64 description and marks the domain unmanaged', () => {
    const desc = Buffer.from(JSON.stringify({ owner: 'bot' })).toString('base64');
    const d = parseDomainXml(
      `<domain type="kvm" id="7"><name>old</name><uuid>u</uuid><description>${desc}</description><memory unit="KiB">2097152</memory><vcpu>2</vcpu></domain>`,
    );
    expect(d).toMatchObject({ name: 'old', id: 7, managed: false, tags: { owner: 'bot' }, memoryMiB: 2048 });
  });
  it('tolerates a description that is not base64 JSON', () => {
    const d = parseDomainXml('<domain type="kvm"><name>x</name><uuid>u</uuid><description>hello world</description><vcpu>1</vcpu></domain>');
    expect(d).toMatchObject({ managed: false, tags: {} });
  });
});
