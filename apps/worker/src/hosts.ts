import { readFileSync } from 'node:fs';
import { type Config, ConfigError, fingerprintHelp, type HostConfig } from '@provisioner/contracts';
import { type CommandObservation, HostKeyError, Hypervisor, isLibvirtError, type NetworkSpec } from '@provisioner/libvirt';
import type { Logger } from 'pino';

function network(spec: string): NetworkSpec {
  if (spec === 'none') return { type: 'none' };
  const [type, name = ''] = spec.split(':');
  return type === 'bridge' ? { type: 'bridge', name } : { type: 'network', name };
}

/** Called after each remote command on the host named `region/host` (the worker's metrics). */
export type SshObserver = (host: string, c: CommandObservation) => void;

/** One Hypervisor (one pooled SSH connection) per configured host, keyed `region/host`. */
export function makeHypervisors(config: Config, observe?: SshObserver): Map<string, Hypervisor> {
  const out = new Map<string, Hypervisor>();
  for (const r of config.regions) {
    for (const h of r.hosts) {
      const name = `${r.region_name}/${h.name}`;
      out.set(name, hypervisorFor(h, name, observe));
    }
  }
  return out;
}

/**
 * `name` (`region/host`) is how the host's errors name it: they reach clients (job errors, webhooks, legacy
 * answers), which know hosts by their configured names, never by the address and user that reach them.
 */
export function hypervisorFor(h: HostConfig, name: string, observe?: SshObserver): Hypervisor {
  return new Hypervisor({
    ssh: {
      name,
      ...(observe ? { onCommand: (c: CommandObservation) => observe(name, c) } : {}),
      host: h.address,
      port: h.port,
      username: h.user,
      privateKey: privateKeyOf(h),
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

/** The key held in memory (from the environment) or read from its file; the config allows exactly one. */
function privateKeyOf(h: HostConfig): string | Buffer {
  if (h.private_key) return h.private_key.reveal();
  if (!h.private_key_path) throw new Error(`host ${h.name} has no private key`);
  return readFileSync(h.private_key_path);
}

/**
 * Connects once to every host before any job runs. A host presenting another key than the pinned one is a
 * configuration error: the worker refuses to start (ConfigError) and says how to read the right key. A host
 * that is down or slow is only a warning: its jobs wait and retry as usual.
 */
export async function checkHostKeys(config: Config, hypervisors: Map<string, Hypervisor>, log: Logger, timeoutMs = 10_000): Promise<void> {
  const wrong: string[] = [];
  const checks = config.regions.flatMap((r) =>
    r.hosts.map(async (h) => {
      const label = `${r.region_name}/${h.name}`;
      try {
        await hypervisors.get(label)?.probe({ timeoutMs });
      } catch (e) {
        if (e instanceof HostKeyError) {
          // The operator reads this at start-up: the address shows which machine answered (clients never see it).
          wrong.push(`${label} (${h.user}@${h.address}:${h.port}): ${e.message}. To read the right fingerprint, ${fingerprintHelp(h.address, h.port)}`);
        } else {
          log.warn(
            { host: label, code: isLibvirtError(e) ? e.code : undefined, err: (e as Error).message },
            'host not reachable at startup; its jobs wait for it',
          );
        }
      }
    }),
  );
  await Promise.all(checks);
  if (wrong.length) throw new ConfigError(`refusing to start: ${wrong.join('; ')}`);
}
