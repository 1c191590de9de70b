/**
 * SSH faults between a real worker and the real loopback host, through a TCP proxy: a connection cut
 * mid-command is retried on a new connection and the create succeeds; a host that presents another key
 * fails the job at once, not retried, with a clear error, and /ready names the host.
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

  it('a changed host key fails the job at once, not retried, and /ready reports the host', async () => {
    proxy.setTarget(foreign.port);
    proxy.cutAll(); // the pooled connection was made to the real host
    const name = uniqueName('hk');
    made.push(name);
    const j = await createVm(name);
    const end = (await waitJob(stack, j.id, 60_000)) as unknown as JobBody;
    expect(end.state).toBe('failed');
    expect(end.error).toMatchObject({ code: 'HOST_KEY', retryable: false });
    expect(end.error?.message).toMatch(/host key .* does not match the pinned fingerprint/);
    expect(end.attempts).toBe(1);
    await until('/ready to report the host', async () => {
      const ready = (await (await fetch(`${stack.url}/ready`)).json()) as { hosts: Array<{ host: string; error: string | null }> };
      return ready.hosts.some((h) => h.host === 'h1' && /host key/.test(h.error ?? ''));
    });
    proxy.setTarget(host.port);
    await expect(hv.getDomain(name)).rejects.toBeInstanceOf(DomainNotFoundError);
  });
});
