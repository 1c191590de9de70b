/**
 * For tests only (`@provisioner/store/testing`): the store's key names, to check what a class wrote, and
 * ways to reach Redis below the classes. Production code uses the classes of `@provisioner/store`.
 */
export { EXEMPTION_RENEW_MS } from './auth-failure-counter.ts';
export { CONSOLE_TTL_S } from './console-store.ts';
export { keys } from './keys.ts';
export { isCluster, scanKeys } from './redis.ts';
export { runScript, SCRIPT_NAMES, type ScriptName } from './scripts.ts';
export { OUTBOX_LEASE_MS } from './webhook-store.ts';
