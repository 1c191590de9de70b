import { readFileSync } from 'node:fs';
import type { Config, HostConfig } from '@provisioner/contracts';
import { Hypervisor, type NetworkSpec } from '@provisioner/libvirt';

function network(spec: string): NetworkSpec {
  if (spec === 'none') return { type: 'none' };
  const [type, name = ''] = spec.split(':');
  return type === 'bridge' ? { type: 'bridge', name } : { type: 'network', name };
}

/** One Hypervisor (one pooled SSH connection) per configured host, keyed `region/host`. */
export function makeHypervisors(config: Config): Map<string, Hypervisor> {
  const out = new Map<string, Hypervisor>();
  for (const r of config.regions) {
    for (const h of r.hosts) out.set(`${r.region_name}/${h.name}`, hypervisorFor(h));
  }
  return out;
}

export function hypervisorFor(h: HostConfig): Hypervisor {
  return new Hypervisor({
    ssh: {
      host: h.address,
      port: h.port,
      username: h.user,
      privateKey: readFileSync(h.private_key_path),
      hostKeyFingerprints: Array.isArray(h.host_key_fingerprint) ? h.host_key_fingerprint : [h.host_key_fingerprint],
      connectTimeoutMs: 15_000,
      commandTimeoutMs: 300_000,
      maxChannels: Math.max(4, h.max_concurrent_operations * 2),
    },
    uri: h.libvirt_uri,
    imagesDir: h.images_dir,
    disksDir: h.disks_dir,
    network: network(h.network),
    domainType: h.domain_type,
  });
}
