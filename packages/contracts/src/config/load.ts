/**
 * The one place contracts touches the file system: each entry point reads its configuration file here
 * once, at start; everything else about the configuration is the pure configFromEnv (env.ts).
 */
import { readFileSync } from 'node:fs';
import { ConfigError, configFromEnv, type Env } from './env.ts';
import type { Config } from './schema.ts';

/** The configuration of this process: the file named by PROVISIONER_CONFIG and the environment (see configFromEnv). */
export function loadConfig(env: Env = process.env): Config {
  const path = env.PROVISIONER_CONFIG;
  if (!path) return configFromEnv(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read PROVISIONER_CONFIG ${path}: ${(e as Error).message}`);
  }
  return configFromEnv(env, text);
}
