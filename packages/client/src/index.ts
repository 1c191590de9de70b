/** `@provisioner/client`: the typed client of the Provisioner API (README.md). */
export type * from '@provisioner/contracts/api';
export * from './client.ts';
export * from './errors.ts';
export { readSse, type SseEvent, SseParser } from './sse.ts';
