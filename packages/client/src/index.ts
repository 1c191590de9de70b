/** `@provisioner/client`: the typed client of the Provisioner API (README.md). */
export type * from '@provisioner/contracts/api';
export * from './client.ts';
// The client's own code type (the contract's list, or `HTTP_<status>` from a proxy) over the contract's.
export type { ApiErrorCode } from './errors.ts';
export * from './errors.ts';
export { readSse, type SseEvent, SseParser } from './sse.ts';
