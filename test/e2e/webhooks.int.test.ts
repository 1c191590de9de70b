/**
 * Webhooks end to end: real API and worker processes, the loopback host, and a receiver on
 * 127.0.0.1 (allowed explicitly by configuration). Signatures checked with `standardwebhooks`.
 */
import { newWebhookSecret } from '@provisioner/contracts';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
const TOKEN_SECRET = newWebhookSecret();
let stack: Stack;
let images: ImageServer;
let receiver: Receiver;
const hv = makeHypervisor(host);
const made: string[] = [];

beforeAll(async () => {
  receiver = await startReceiver();
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 64 }]));
  stack = await startStack({
    host,
    images: { [uniqueName('tiny')]: { url: images.url('tiny.qcow2') } },
    adminToken: { webhook_secret: TOKEN_SECRET },
    extra: { webhooks: { timeout_ms: 2000, attempts: 3, backoff_ms: 200, allow_networks: ['127.0.0.1/32'] } },
  });
});

afterAll(async () => {
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await stack?.stop();
  await images?.close();
  await receiver?.close();
  await hv.close();
});

const headersOf = (h: Record<string, unknown>) => ({
  'webhook-id': String(h['webhook-id']),
  'webhook-timestamp': String(h['webhook-timestamp']),
  'webhook-signature': String(h['webhook-signature']),
});

describe('webhooks through the real stack', () => {
  it("a create's webhook_url and a registered endpoint both get a signed job.succeeded with the job as GET shows it", async () => {
    const reg = await stack.fetch('/v1/webhooks', { method: 'POST', body: JSON.stringify({ url: `${receiver.url}/registered`, events: ['job.succeeded'] }) });
    expect(reg.status).toBe(201);
    const endpoint = (await reg.json()) as { id: string; secret: string };

    const images = (await (await stack.fetch('/v1/images')).json()) as { images: Array<{ name: string }> };
    const name = uniqueName('hook');
    made.push(name);
    const res = await stack.fetch('/v1/vms', {
      method: 'POST',
      body: JSON.stringify({
        vm_name: name,
        region_name: 'r1',
        instance_type: 'tiny',
        image: images.images[0]?.name,
        webhook_url: `${receiver.url}/per-job`,
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const final = await waitJob(stack, id);
    expect(final.state).toBe('succeeded');

    const got = await receiver.waitFor(2);
    const byPath = new Map(got.map((r) => [r.path, r]));
    const perJob = byPath.get('/per-job');
    const registered = byPath.get('/registered');
    expect(perJob && registered).toBeTruthy();
    const p1 = new Webhook(TOKEN_SECRET).verify(perJob?.body ?? '', headersOf(perJob?.headers ?? {})) as { type: string; data: unknown };
    const p2 = new Webhook(endpoint.secret).verify(registered?.body ?? '', headersOf(registered?.headers ?? {})) as { type: string; data: unknown };
    for (const p of [p1, p2]) {
      expect(p.type).toBe('job.succeeded');
      expect(p.data).toEqual(final);
    }
    expect(perJob?.headers['webhook-id']).not.toBe(registered?.headers['webhook-id']);

    const log = (await (await stack.fetch(`/v1/jobs/${id}/deliveries`)).json()) as {
      deliveries: Array<{ id: string; endpoint_id: string | null; state: string; attempts: Array<{ status_code: number }> }>;
    };
    expect(log.deliveries.map((d) => [d.endpoint_id, d.state, d.attempts.map((a) => a.status_code)]).sort()).toEqual(
      [
        [endpoint.id, 'delivered', [200]],
        [null, 'delivered', [200]],
      ].sort(),
    );
    // The secret never shows up in what the API or the processes said.
    expect(JSON.stringify(log)).not.toContain(TOKEN_SECRET.slice(6));
    expect(stack.logs.join('\n')).not.toContain(TOKEN_SECRET.slice(6));
    expect(stack.logs.join('\n')).not.toContain(endpoint.secret.slice(6));

    const del = await stack.fetch(`/v1/vms/r1/${name}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    expect((await waitJob(stack, ((await del.json()) as { id: string }).id)).state).toBe('succeeded');
  });
});
