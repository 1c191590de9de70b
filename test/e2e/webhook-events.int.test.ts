/**
 * VM and progress webhooks end to end: real API and worker processes, the loopback host, and a receiver on
 * 127.0.0.1. A VM stopped outside the service shows up as `vm.state_changed` on the next inventory refresh,
 * one the service stopped or started does not; a create that asked for `job.progress` gets it at its own
 * webhook_url. Signatures checked with `standardwebhooks`.
 */
import { newWebhookSecret } from '@provisioner/contracts';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ImageServer, makeHypervisor, makeImages, startImageServer, uniqueName } from '../support/host.ts';
import { type Received, type Receiver, startReceiver } from '../support/receiver.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
const TOKEN_SECRET = newWebhookSecret();
const image = uniqueName('evimg');
let stack: Stack;
let images: ImageServer;
let receiver: Receiver;
const hv = makeHypervisor(host);
const name = uniqueName('events');

beforeAll(async () => {
  receiver = await startReceiver();
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 64 }]));
  stack = await startStack({
    host,
    images: { [image]: { url: images.url('tiny.qcow2') } },
    adminToken: { webhook_secret: TOKEN_SECRET },
    extra: { webhooks: { timeout_ms: 2000, attempts: 3, backoff_ms: 200, allow_networks: ['127.0.0.1/32'] } },
  });
});

afterAll(async () => {
  await hv.undefine(name).catch(() => undefined);
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
type Event = { type: string; data: Record<string, unknown> };
const verified = (secret: string, rs: Received[]) => rs.map((r) => new Webhook(secret).verify(r.body, headersOf(r.headers)) as Event);

async function until<T>(what: string, f: () => T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what} not within ${ms} ms; got ${receiver.received.map((r) => r.path).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function refresh(): Promise<void> {
  expect((await stack.fetch('/v1/vms?refresh=true')).status).toBe(200);
}

describe('VM and progress webhooks through the real stack', () => {
  it("job.progress at a create's webhook_url when asked; vm.state_changed for a stop outside the service, not for the service's own", async () => {
    const reg = await stack.fetch('/v1/webhooks', { method: 'POST', body: JSON.stringify({ url: `${receiver.url}/vm`, events: ['vm.state_changed'] }) });
    expect(reg.status).toBe(201);
    const endpoint = (await reg.json()) as { secret: string };

    const res = await stack.fetch('/v1/vms', {
      method: 'POST',
      body: JSON.stringify({
        vm_name: name,
        region_name: 'r1',
        instance_type: 'tiny',
        image,
        webhook_url: `${receiver.url}/cb`,
        webhook_events: ['job.progress'],
      }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    expect((await waitJob(stack, id)).state).toBe('succeeded');
    const cb = await until('the create to be announced', () => {
      const got = receiver.received.filter((r) => r.path === '/cb');
      return got.some((r) => r.body.includes('"job.succeeded"')) ? got : undefined;
    });
    const events = verified(TOKEN_SECRET, cb);
    const progress = events.filter((e) => e.type === 'job.progress');
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.every((e) => e.data.id === id && e.data.state === 'running')).toBe(true);
    // Every progress delivery has an id of its own (they are different events).
    const ids = cb.filter((r) => r.body.includes('"job.progress"')).map((r) => r.headers['webhook-id']);
    expect(new Set(ids).size).toBe(ids.length);
    await refresh(); // the inventory as it is now, before the stop

    // The loopback host is shared with other tests' VMs, whose changes the endpoint hears of too.
    const mine = () => receiver.received.filter((r) => r.path === '/vm' && (JSON.parse(r.body) as Event).data.vm_name === name);
    // Stopped outside the service (virsh on the host): the next refresh tells the endpoint.
    await hv.shutdown(name, 500);
    await refresh();
    const [changed] = verified(
      endpoint.secret,
      await until('vm.state_changed', () => {
        const got = mine();
        return got.length ? got : undefined;
      }),
    );
    expect(changed?.type).toBe('vm.state_changed');
    expect(changed?.data).toMatchObject({ region: 'r1', host: 'h1', vm_name: name, previous_state: 'running', state: 'shut off' });

    // Started by the service: its own change is no news.
    const start = await stack.fetch(`/v1/vms/r1/${name}/start`, { method: 'POST', body: '{}' });
    expect(start.status).toBe(202);
    expect((await waitJob(stack, ((await start.json()) as { id: string }).id)).state).toBe('succeeded');
    await refresh();
    await new Promise((r) => setTimeout(r, 1500));
    expect(mine()).toHaveLength(1);

    const del = await stack.fetch(`/v1/vms/r1/${name}`, { method: 'DELETE' });
    expect((await waitJob(stack, ((await del.json()) as { id: string }).id)).state).toBe('succeeded');
  });
});
