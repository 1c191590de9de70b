import { describe, expect, it } from 'vitest';
import { rebuildSnapshotsArgv, rebuildSwapArgv, removeFilesArgv } from '../src/commands.ts';
import { InvalidArgumentError } from '../src/errors.ts';
import { Hypervisor } from '../src/hypervisor.ts';
import { parseDomainXml } from '../src/parse.ts';
import { DOMAIN_NS, domainMetadataXml } from '../src/xml.ts';

const files = {
  disk: '/d/vm-1.qcow2',
  newDisk: '/d/vm-1.rebuild-job_1.qcow2',
  seed: '/d/vm-1-seed.iso',
  newSeed: null,
  diskNow: 3 * 2 ** 30,
  newDiskNow: null,
};

describe('rebuild on the host', () => {
  it('the swap takes every value as a positional argument, never in its script', () => {
    const meta = domainMetadataXml({ instanceId: 'job_0', image: 'img', instanceType: 'tiny', rebuiltBy: 'job_1' });
    const a = { ...files, name: 'vm-1', ns: DOMAIN_NS, metadataXml: meta };
    const argv = rebuildSwapArgv('qemu:///system', a);
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3)).toEqual([
      'rebuild-swap',
      'qemu:///system',
      'vm-1',
      files.disk,
      files.newDisk,
      files.seed,
      '',
      String(3 * 2 ** 30),
      '',
      DOMAIN_NS,
      meta,
    ]);
    expect(argv[2]).not.toContain('vm-1');
    expect(() => rebuildSwapArgv('qemu:///system', { ...a, newDisk: 'rel.qcow2' })).toThrow(InvalidArgumentError);
    expect(() => rebuildSwapArgv('qemu:///system', { ...a, newSeed: '/d/../etc/x' })).toThrow(InvalidArgumentError);
    expect(() => rebuildSwapArgv('qemu:///system', { ...a, name: '-rf' })).toThrow(InvalidArgumentError);
    expect(() => rebuildSwapArgv('qemu:///system', { ...a, diskNow: -1 })).toThrow(InvalidArgumentError);
    expect(() => rebuildSnapshotsArgv('qemu:///system', 'Bad Name', true)).toThrow(InvalidArgumentError);
    expect(() => removeFilesArgv(['/d/ok', 'relative'])).toThrow(InvalidArgumentError);
    expect(removeFilesArgv(['/d/a'])).toEqual(['rm', '-f', '--', '/d/a']);
  });

  it('the new disk and seed sit beside the VM’s own, named by the job; a job id that is not one is refused', () => {
    // Never connects: paths are derived locally.
    const ssh = { host: '127.0.0.1', port: 22, username: 'x', privateKey: 'k', hostKeyFingerprints: [`SHA256:${'A'.repeat(43)}`] };
    const hv = new Hypervisor({ ssh, imagesDir: '/i', disksDir: '/d' });
    expect(hv.rebuildPaths('vm-1', 'job_1')).toEqual({ disk: '/d/vm-1.rebuild-job_1.qcow2', seed: '/d/vm-1-seed.rebuild-job_1.iso' });
    expect(() => hv.rebuildPaths('vm-1', '../x')).toThrow(InvalidArgumentError);
  });

  it('reads the rebuilding job back from the metadata as libvirt writes it after `virsh metadata --set`', () => {
    // dumpxml's metadata after the swap's `virsh metadata --uri NS --key prov --set …` (libvirt 9.0).
    const xml = `<domain type='qemu'><name>vm-1</name><uuid>0f2c1bb0-5a4b-4c55-9a1e-2b0d7c1c9e11</uuid>
  <metadata>
    <domain xmlns="${DOMAIN_NS}" xmlns:prov="${DOMAIN_NS}">
      <instance-id>job_0</instance-id>
      <image>img-b</image>
      <instance-type>tiny</instance-type>
      <rebuilt-by>job_1</rebuilt-by>
    </domain>
  </metadata><memory unit='KiB'>65536</memory><vcpu>1</vcpu></domain>`;
    expect(parseDomainXml(xml)).toMatchObject({ instanceId: 'job_0', image: 'img-b', instanceType: 'tiny', rebuiltBy: 'job_1', managed: true });
    expect(parseDomainXml(xml.replace(/<rebuilt-by>.*<\/rebuilt-by>/, ''))).toMatchObject({ rebuiltBy: null });
  });
});
