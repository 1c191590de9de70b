/**
 * Redis unreachable (a port nothing listens on, so the machine's Redis is untouched): liveness and
 * the configuration's answers stay up, everything that needs Redis answers 503 quickly.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useHarness } from './harness.ts';

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const h = useHarness({ redisUrl: `redis://127.0.0.1:${await closedPort()}` });

describe('while Redis is down', () => {
  it('stays alive and serves what the configuration answers', async () => {
    expect((await h.fetch('/health', { token: null })).status).toBe(200);
    expect((await h.fetch('/v1/get-images', { token: null })).status).toBe(200);
    expect((await h.fetch('/v1/regions')).status).toBe(200);
    expect((await h.fetch('/v1/images')).status).toBe(200);
  });

  it('is not ready', async () => {
    const r = await h.fetch('/ready', { token: null });
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ status: 'unready', error: { code: 'UNAVAILABLE' }, detail: expect.any(String) });
  });

  it.each([
    ['POST', '/v1/vms', { vm_name: 'x', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' }],
    ['POST', '/v1/create', { vm_name: 'x', region_name: 'r1', instance_type: 'tiny', image: 'v0.76.0' }],
    ['GET', '/v1/vms', undefined],
    ['GET', '/v1/list', undefined],
    ['GET', '/v1/jobs', undefined],
    ['GET', '/v1/jobs/job_00000000000000000000000000000000', undefined],
    ['POST', '/v1/vms/r1/x/start', undefined],
  ])('%s %s answers 503 at once', async (method, path, json) => {
    const t0 = Date.now();
    const r = await h.fetch(path, { method, json });
    expect(r.status).toBe(503);
    expect(Date.now() - t0).toBeLessThan(1000);
    const body = (await r.json()) as { error: { code: string; message: string }; detail: string };
    expect(body.error.code).toBe('UNAVAILABLE');
    expect(body.detail).toMatch(/unavailable/);
  });

  it('still checks the token first', async () => {
    expect((await h.fetch('/v1/vms', { token: 'wrong-wrong-wrong-wrong' })).status).toBe(401);
  });
});
