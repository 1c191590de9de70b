/**
 * @provisioner/store: the service's Redis state, one class per concept (each owns its keys and Lua
 * scripts), plus the connection it runs on. Key names and the script runner are internal: tests that read
 * what a class wrote import them from `@provisioner/store/testing`.
 */
export { AuthFailureCounter } from './auth-failure-counter.ts';
export { type ConsoleFailure, ConsoleStore, type ConsoleText } from './console-store.ts';
export { CordonStore, type HostCordon } from './cordon-store.ts';
export { type IdempotencyRecord, IdempotencyStore, type StoredResponse } from './idempotency-store.ts';
export { type HostRef, InventoryStore } from './inventory-store.ts';
export { type CancelOutcome, JobQueue, SeqMismatchError } from './job-queue.ts';
export { readJobView } from './job-view.ts';
export { RateLimiter, type RateWindow } from './rate-limiter.ts';
export { connectRedis, duplicateRedis } from './redis.ts';
export { RegionLock } from './region-lock.ts';
export { type SessionKind, type SessionLifetime, type SessionRecord, SessionStore } from './session-store.ts';
export { endOutcome, type ReserveOutcome, type ResizeReserveOutcome, VmLedger } from './vm-ledger.ts';
export { type EndpointStats, noEndpointStats, type RedeliveryOutcome, WebhookStore } from './webhook-store.ts';
