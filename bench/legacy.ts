/**
 * The replaced service's create, run on the loopback host as it ran it over SSH: download the whole
 * image, `qemu-img resize`, `virt-install --import --cloud-init --noautoconsole --wait 0`. Times each part.
 */
import type { Hypervisor } from '@provisioner/libvirt';

const SCRIPT = `set -eu
name=$1 url=$2 dir=$3 size_mb=$4 virt_type=$5
d="$dir/$name.qcow2"
ud=$(mktemp); cat > "$ud"
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms)
curl -fsS -o "$d" "$url"
t1=$(ms)
qemu-img resize -q "$d" "\${size_mb}M"
t2=$(ms)
virt-install --connect qemu:///system --name "$name" --memory 64 --vcpus 1 --import --disk "path=$d,format=qcow2" \\
  --cloud-init "user-data=$ud" --osinfo detect=on,require=off --network none --graphics none --noautoconsole --wait 0 \\
  --virt-type "$virt_type" >/dev/null
t3=$(ms)
rm -f "$ud"
echo "curl=$((t1 - t0)) resize=$((t2 - t1)) virt_install=$((t3 - t2))"`;

export interface LegacyTiming {
  total: number;
  curl: number;
  resize: number;
  virtInstall: number;
}

export async function legacyCreate(hv: Hypervisor, o: { name: string; url: string; disksDir: string; sizeMb: number; kvm: boolean }): Promise<LegacyTiming> {
  const t0 = performance.now();
  const r = await hv.ssh.exec(['bash', '-c', SCRIPT, 'legacy-create', o.name, o.url, o.disksDir, String(o.sizeMb), o.kvm ? 'kvm' : 'qemu'], {
    stdin: '#cloud-config\n{}\n',
    timeoutMs: 600_000,
  });
  const total = performance.now() - t0;
  const v = (k: string) => Number(new RegExp(`${k}=(\\d+)`).exec(r.stdout)?.[1] ?? Number.NaN);
  return { total, curl: v('curl'), resize: v('resize'), virtInstall: v('virt_install') };
}

/** Removes what legacyCreate made: the domain (virt-install's seed ISO with it) and the disk. */
export async function legacyCleanup(hv: Hypervisor, name: string, disksDir: string): Promise<void> {
  await hv.undefine(name).catch(() => undefined);
  await hv.ssh.exec(['rm', '-f', `${disksDir}/${name}.qcow2`]).catch(() => undefined);
}
