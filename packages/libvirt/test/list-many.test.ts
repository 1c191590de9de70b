/**
 * The listing script (listDomainsArgv) run by sh here with a virsh that answers like libvirt for 1 500
 * domains: a host with more domains than one virsh argument can carry (128 KiB) is still listed whole.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listDomainsArgv } from '../src/commands.ts';
import { parseDomainList } from '../src/parse.ts';
import { buildDomainXml } from '../src/xml.ts';

const B = 'd'.repeat(32);
const COUNT = 1500;

/** Runs the listing against a virsh answering for COUNT domains; `failBatchWith` names a domain whose batch
 * virsh cannot run (it exits 1, as when its connection to libvirtd fails); with `snapshots`, every domain has
 * one snapshot. */
function listWithFakeVirsh(failBatchWith?: string, snapshots = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'list-many-'));
  try {
    const xml = buildDomainXml({
      name: 'zzdomainnamezz',
      instanceId: 'i-zzdomainnamezz',
      vcpus: 1,
      memoryMiB: 64,
      diskPath: '/var/lib/disks/zzdomainnamezz.qcow2',
      seedPath: null,
      network: { type: 'none' },
      domainType: 'qemu',
      tags: {},
    }).replace('</name>', '</name><uuid>UUIDHERE</uuid>');
    writeFileSync(join(dir, 'dom.xml'), xml.replace(/zzdomainnamezz/g, 'd-UUIDHERE'));
    // `list --all --uuid`: the uuids; a batch: each DOMAIN it names as libvirt would answer it.
    writeFileSync(
      join(dir, 'virsh'),
      `#!/bin/sh
case "$*" in *"list --all --uuid"*) i=0; while [ $i -lt ${COUNT} ]; do printf '00000000-0000-0000-0000-%012d\\n' $i; i=$((i+1)); done; exit 0 ;; esac
${failBatchWith ? `case "$*" in *"DOMAIN ${failBatchWith}"*) echo 'error: failed to connect to the hypervisor' >&2; exit 1 ;; esac` : ''}
printf '%s' "$*" | grep -o 'DOMAIN [0-9a-f-]*' | cut -d' ' -f2 | awk -v b="${B}" -v f="${dir}/dom.xml" '
  BEGIN { while ((getline l < f) > 0) x = x l "\\n" }
  { s = x; gsub(/UUIDHERE/, $1, s); printf "@@%s DOMAIN %s\\n%s@@%s STATE\\nshut off\\n@@%s SNAPSHOTS\\n%s\\n", b, $1, s, b, b, snap }' snap="${snapshots ? 'snap-a' : ''}"
# A batch of snapshot dumps: each SNAPSHOT section it names, as libvirt would answer it.
printf '%s' "$*" | grep -o 'SNAPSHOT [0-9a-f-]* [a-z0-9-]*' | awk -v b="${B}" '
  { printf "@@%s SNAPSHOT %s %s\\n<domainsnapshot><name>%s</name><state>shutoff</state><creationTime>1700000000</creationTime></domainsnapshot>\\n", b, $2, $3, $3 }'
`,
      { mode: 0o755 },
    );
    const [cmd, ...args] = listDomainsArgv('qemu:///system', B);
    return execFileSync(cmd as string, args, {
      encoding: 'utf8',
      maxBuffer: 256 << 20,
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the listing script with 1 500 domains', () => {
  it('lists every domain (the batch is split: one argument of every domain is over the kernel’s limit)', () => {
    const domains = parseDomainList(listWithFakeVirsh(), B);
    expect(domains).toHaveLength(COUNT);
    expect(new Set(domains.map((d) => d.name)).size).toBe(COUNT);
    expect(domains.at(-1)?.state).toBe('shut off');
  });

  it('lists every snapshot of every domain (their dumps are split in batches too)', () => {
    const domains = parseDomainList(listWithFakeVirsh(undefined, true), B);
    expect(domains).toHaveLength(COUNT);
    expect(domains.every((d) => d.snapshots.length === 1 && d.snapshots[0]?.name === 'snap-a')).toBe(true);
  });

  it('fails, not lists the other batches’ domains, when virsh cannot run one batch', () => {
    // Before, the failed batch's 200 domains were missing from a listing that succeeded: the inventory
    // would drop them until the next refresh.
    expect(() => listWithFakeVirsh('00000000-0000-0000-0000-000000000450')).toThrow(/status 1|exit/i);
  });
});
