/**
 * The store's scripts run by EVALSHA (defined once per connection), never by EVAL with their whole text:
 * counted on a Redis of this test's own (no other test's traffic), over creates, operations and a
 * cancel through the real API.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitPort } from '../../../../test/support/net.ts';
import { type Harness, startHarness } from './harness.ts';

let server: ChildProcess;
let port: number;
let h: Harness;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** Calls per command from INFO commandstats (`cmdstat_evalsha:calls=3,...`). */
async function commandCalls(r: Redis): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await r.info('commandstats')).matchAll(/^cmdstat_([a-z|_-]+):calls=(\d+)/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

beforeAll(async () => {
  port = await freePort();
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitPort(port);
  h = await startHarness({ redisUrl: `redis://127.0.0.1:${port}` });
  await new Promise<void>((r) => (h.redis.status === 'ready' ? r() : h.redis.once('ready', () => r())));
});

afterAll(async () => {
  await h?.stop();
  server?.kill('SIGTERM');
});

describe('INFO commandstats over a run of creates', () => {
  it('shows evalsha calls for the scripts and no eval', async () => {
    await h.writeInventory('r1', 'h1', []);
    await h.writeInventory('r1', 'h2', []);
    const probe = new Redis(`redis://127.0.0.1:${port}`);
    const cancelOne = async (name: string) => {
      const c = await h.fetch('/v1/vms', { method: 'POST', json: { vm_name: name, region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' } });
      const { id } = (await c.json()) as { id: string };
      expect((await h.fetch(`/v1/jobs/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    };
    try {
      // The first call of a script on a server that never saw it is one EVAL (ioredis' fallback on
      // NOSCRIPT), which loads it: after that, every call is an EVALSHA.
      await cancelOne('cs-warm');
      await probe.config('RESETSTAT');
      for (let i = 0; i < 8; i++) {
        const r = await h.fetch('/v1/vms', { method: 'POST', json: { vm_name: `cs-${i}`, region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' } });
        expect(r.status).toBe(202);
      }
      // A name taken already, and a cancel of a queued create (the script on BullMQ's keys, and the free).
      expect((await h.fetch('/v1/vms', { method: 'POST', json: { vm_name: 'cs-0', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' } })).status).toBe(
        409,
      );
      await cancelOne('cs-cancel');
      const calls = await commandCalls(probe);
      // reservePending and recordJob per create, cancelQueued and releasePending for the cancel.
      expect(calls.evalsha).toBeGreaterThanOrEqual(2 * 9 + 2);
      expect(calls.eval ?? 0).toBe(0);
    } finally {
      await probe.quit();
    }
  });
});
