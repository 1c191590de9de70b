export * from './cancel.ts';
export * from './config.ts';
export * from './crypto.ts';
export * from './jobs.ts';
export * from './queues.ts';
export * from './view.ts';
export * from './webhooks.ts';
