/** A configuration with one region of two hosts, for the store's job tests (no host is ever reached). */
import { randomBytes } from 'node:crypto';
import { type Config, ConfigSchema } from '@provisioner/contracts';
import { REDIS_URL } from './redis-prefix.ts';

const FP = `SHA256:${'A'.repeat(43)}`;
const host = (name: string) => ({ name, address: '127.0.0.1', port: 22, private_key_path: '/nonexistent/key', host_key_fingerprint: FP });

export function jobConfig(prefix: string): Config {
  return ConfigSchema.parse({
    redis_url: REDIS_URL,
    queue_prefix: prefix,
    user_data_key: randomBytes(32).toString('base64'),
    tokens: [{ name: 'admin', token: 'a'.repeat(32), scopes: ['admin'] }],
    images: { tiny: { url: 'https://images.example.org/tiny.qcow2' } },
    regions: [
      { region_name: 'r1', hosts: [host('h1'), host('h2')], available_instance_types: [{ instance_type: 'tiny', vcpus: 1, memory_mb: 512, storage_mb: 4096 }] },
    ],
  });
}
