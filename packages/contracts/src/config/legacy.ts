/**
 * The replaced service's configuration, BAREMETAL_SERVER_CONFIGS: one region per entry, one host each,
 * with one SSH key for all hosts and pinned host keys by `host:port`. Its entries become regions of the
 * new shape; ConfigSchema (schema.ts) parses them as any region.
 */
import type { z } from 'zod';
import type { ConfigFileSchema } from './schema.ts';

type ConfigFile = z.output<typeof ConfigFileSchema>;

/** How an operator reads a node's host-key fingerprint: install-server.sh's sshd (port 2222) serves the node's own host keys. */
export function fingerprintHelp(host: string, port: number): string {
  return `print it on the node with \`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` (install-server.sh prints it as host_key_fingerprint=… on its last line), or scan it with \`ssh-keyscan -t ed25519 -p ${port} ${host} | ssh-keygen -lf -\` and compare the two`;
}

/** The regions (as RegionSchema input) that baremetal_server_configs stands for; an entry without its key or host key is an issue. */
export function legacyRegions(c: ConfigFile, ctx: z.RefinementCtx): unknown[] {
  const regions: unknown[] = [];
  for (const [i, old] of (c.baremetal_server_configs ?? []).entries()) {
    const fp = c.host_key_fingerprints?.[`${old.host}:${old.port}`] ?? c.host_key_fingerprints?.[old.host];
    if (!(c.ssh_private_key_path || c.ssh_private_key) || !fp) {
      ctx.addIssue({
        code: 'custom',
        path: ['baremetal_server_configs', i],
        message: `needs ssh_private_key_path and host_key_fingerprints["${old.host}:${old.port}"] (or SSH_PRIVATE_KEY_ED25519_BASE64_ENCODED and SSH_HOST_KEY_FINGERPRINT); ${fingerprintHelp(old.host, old.port)}`,
      });
      continue;
    }
    const key = c.ssh_private_key ? { private_key: c.ssh_private_key } : { private_key_path: c.ssh_private_key_path };
    regions.push({
      region_name: old.region_name,
      enabled: old.enabled,
      available_instance_types: old.available_instance_types,
      hosts: [{ name: 'host-1', address: old.host, port: old.port, user: old.user, ...key, host_key_fingerprint: fp }],
    });
  }
  return regions;
}
