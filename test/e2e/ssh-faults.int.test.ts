/**
 * SSH faults between a real worker and the real loopback host, through a TCP proxy: a connection cut
 * mid-command is retried on a new connection and the create succeeds; a host that presents another key
 * fails the job at once, not retried, with a clear error naming the configured host (never its address),
 * and /ready reports the host unreachable without saying why (it is open).
 */
import { DomainNotFoundError } from '@provisioner/libvirt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startForeignSshServer, startTcpProxy, type TcpProxy } from '../support/faults.ts';
import { type ImageServer, makeHypervisor, makeImages, processTable, startImageServer, uniqueName } from '../support/host.ts';
import { type Stack, startStack, waitJob } from '../support/stack.ts';

const host = inject('loopbackHost');
let stack: Stack;
let proxy: TcpProxy;
let foreign: Awaited<ReturnType<typeof startForeignSshServer>>;
let slow: ImageServer;
const hv = makeHypervisor(host);
const made: string[] = [];
const image = uniqueName('imcut');

beforeAll(async () => {
  slow = await startImageServer(makeImages([{ name: 'slow.qcow2', sizeMiB: 64 }]), { bytesPerSecond: 64 * 1024 });
  proxy = await startTcpProxy(host.port);
  foreign = await startForeignSshServer();
  stack = await startStack({ host: { ...host, port: proxy.port }, images: { [image]: { url: slow.url('slow.qcow2') } } });
});

afterAll(async () => {
  proxy?.setTarget(host.port);
  // Workers first (a job still running could make a domain after it was removed), then the VMs.
  await stack?.stop();
  for (const n of made) await hv.undefine(n).catch(() => undefined);
  await proxy?.close();
  await foreign?.close();
  await slow?.close();
  await hv.close();
});

type JobBody = { id: string; state: string; step: string | null; attempts: number; error: { code: string; message: string; retryable: boolean } | null };

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`${what} not within ${ms} ms\n${stack.logs.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function createVm(name: string): Promise<JobBody> {
  const r = await stack.fetch('/v1/vms', { method: 'POST', body: JSON.stringify({ vm_name: name, region_name: 'r1', instance_type: 'tiny', image }) });
  expect(r.status).toBe(202);
  return (await r.json()) as JobBody;
}

describe('SSH faults', () => {
  it('a connection cut mid-command is retried on a new connection and the create succeeds', async () => {
    const name = uniqueName('cut');
    made.push(name);
    const j = await createVm(name);
    await until('the download running on the host', async () => {
      const v = (await (await stack.fetch(`/v1/jobs/${j.id}`)).json()) as JobBody;
      return v.step === 'fetch-image' && processTable().includes(slow.url('slow.qcow2'));
    });
    expect(proxy.cutAll()).toBeGreaterThan(0);
    const end = await waitJob(stack, j.id, 90_000);
    expect(end.state).toBe('succeeded');
    expect(stack.logs.some((l) => l.includes(j.id) && l.includes('job attempt failed') && l.includes('CONNECTION'))).toBe(true);
    expect((await hv.listDomains()).filter((d) => d.name === name)).toHaveLength(1);
    const del = (await (await stack.fetch(`/v1/vms/r1/${name}`, { method: 'DELETE' })).json()) as JobBody;
    expect((await waitJob(stack, del.id)).state).toBe('succeeded');
  });

  it('a changed host key fails the job at once, not retried, naming r1/h1 (not its address), and /ready reports the host', async () => {
    proxy.setTarget(foreign.port);
    proxy.cutAll(); // the pooled connection was made to the real host
    const name = uniqueName('hk');
    made.push(name);
    const j = await createVm(name);
    const end = (await waitJob(stack, j.id, 60_000)) as unknown as JobBody;
    expect(end.state).toBe('failed');
    expect(end.error).toMatchObject({ code: 'HOST_KEY', retryable: false });
    expect(end.error?.message).toMatch(/^host key of r1\/h1 does not match the pinned fingerprint/);
    expect(end.attempts).toBe(1);
    // Clients (the job view, its step log, the legacy answer) see the configured name; the worker's log also the address.
    const address = `${host.user}@${host.address}:${proxy.port}`;
    expect(JSON.stringify(end)).not.toContain(address);
    expect(stack.logs.some((l) => l.includes(j.id) && l.includes('job attempt failed') && l.includes(address))).toBe(true);
    const other = uniqueName('hk');
    made.push(other);
    const legacy = await stack.fetch('/v1/create', {
      method: 'POST',
      body: JSON.stringify({ vm_name: other, region_name: 'r1', instance_type: 'tiny', image }),
    });
    expect(legacy.status).toBe(502);
    const answer = (await legacy.json()) as { detail: string };
    expect(answer.detail).toMatch(/host key of r1\/h1 does not match/);
    expect(JSON.stringify(answer)).not.toContain(address);
    await until('/ready to report the host', async () => {
      const ready = (await (await fetch(`${stack.url}/ready`)).json()) as { hosts: Array<Record<string, unknown>> };
      return ready.hosts.some((h) => h.host === 'h1' && h.status === 'unreachable' && !('error' in h));
    });
    // Token holders read why: the hosts of GET /v1/vms carry the error, naming the host as configured.
    const vms = (await (await stack.fetch('/v1/vms')).json()) as { hosts: Array<{ host: string; error: string | null }> };
    expect(vms.hosts.find((h) => h.host === 'h1')?.error).toMatch(/^host key of r1\/h1 /);
    proxy.setTarget(host.port);
    for (const n of [name, other]) await expect(hv.getDomain(n)).rejects.toBeInstanceOf(DomainNotFoundError);
  });
});
