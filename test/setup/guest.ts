/**
 * Vitest global setup of the `guest` project (after loopback-host.ts): builds the guest image (cached by
 * its inputs), serves it to the loopback host, starts the service (an API and a worker process) with that
 * image in its catalog and the host on libvirt's `default` network (DHCP), and submits the create of ONE guest
 * with user-data at once: booting it takes about a minute and a half under software emulation, spent while the
 * unit and integration projects run (the guest project's files run last). The files get what they need
 * (`inject('guest')`) and wait for that create with `ensureGuest` (test/support/guest.ts); all of them use that
 * one guest (one boot per run). Teardown deletes it through the API and fails the run (exit code) if the delete
 * did not succeed or left anything on the host.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { newWebhookSecret } from '@provisioner/contracts';
import type { TestProject } from 'vitest/node';
import { buildGuestImage, domainNames, guestCreateBody, makeKeyPair, type SharedGuest, serveGuestImage, startHookInbox } from '../support/guest.ts';
import { type LoopbackHost, makeHypervisor } from '../support/host.ts';
import { startStack, waitJob } from '../support/stack.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const host = JSON.parse(readFileSync('/var/lib/provisioner-local/host.json', 'utf8')) as LoopbackHost;
  const image = buildGuestImage();
  const served = await serveGuestImage(image);
  const imageName = `guest-${randomBytes(3).toString('hex')}`;
  const webhookSecret = newWebhookSecret();
  const inbox = await startHookInbox();
  const stack = await startStack({
    host,
    images: { [imageName]: { url: served.url, sha256: served.sha256 } },
    // 2 vCPUs: cloud-init is done in about half the time of 1 under emulation.
    instanceTypes: [{ instance_type: 'guest', vcpus: 2, memory_mb: 1024, storage_mb: 4096 }],
    h1: { network: 'network:default' },
    // The create's outcome reaches the run's webhook inbox on loopback (read by boot.int.test.ts).
    adminToken: { webhook_secret: webhookSecret },
    extra: { webhooks: { allow_networks: ['127.0.0.1/32'] } },
  });
  const keys = makeKeyPair();
  const vm = `guest-${randomBytes(4).toString('hex')}`;
  const shared: Omit<SharedGuest, 'create'> = {
    url: stack.url,
    token: stack.tokens.admin,
    region: 'r1',
    vm,
    instanceType: 'guest',
    image: imageName,
    nonce: randomBytes(12).toString('hex'),
    publicKey: keys.publicKey,
    privateKeyPath: keys.privateKeyPath,
    libvirtUri: host.libvirt_uri,
    disksDir: host.disks_dir,
    webhookSecret,
    webhookUrl: inbox.url,
  };
  // Submitted now, awaited by the files (ensureGuest): the boot overlaps the other projects' tests.
  const submittedAt = Date.now();
  const res = await stack.fetch('/v1/vms', { method: 'POST', body: guestCreateBody(shared) });
  if (res.status !== 202) throw new Error(`guest create answered ${res.status}: ${await res.text()}\n${stack.logs.slice(-30).join('\n')}`);
  const guest: SharedGuest = { ...shared, create: { id: ((await res.json()) as { id: string }).id, submittedAt } };
  project.provide('guest', guest);

  return async () => {
    const problems: string[] = [];
    try {
      // A run that ended before the guest was ready (its files failed or were not run): end the create first.
      const create = (await (await stack.fetch(`/v1/jobs/${guest.create?.id}`)).json()) as { state: string };
      if (create.state === 'queued' || create.state === 'running') {
        await stack.fetch(`/v1/jobs/${guest.create?.id}/cancel`, { method: 'POST' });
        await waitJob(stack, String(guest.create?.id), 120_000);
      }
      const del = await stack.fetch(`/v1/vms/r1/${vm}`, { method: 'DELETE' });
      // 404: the create failed or was canceled before the VM existed; the host is checked all the same.
      if (del.status === 202) {
        const job = await waitJob(stack, ((await del.json()) as { id: string }).id, 120_000);
        if (job.state !== 'succeeded') problems.push(`delete job ended ${job.state}: ${JSON.stringify(job.error)}`);
      } else if (del.status !== 404) problems.push(`delete answered ${del.status}: ${await del.text()}`);
      if (domainNames(host.libvirt_uri).includes(vm)) problems.push(`domain ${vm} is still defined`);
      for (const f of [join(host.disks_dir, `${vm}.qcow2`), join(host.disks_dir, `${vm}-seed.iso`), join(host.disks_dir, `${vm}.console.log`)]) {
        if (existsSync(f)) problems.push(`${f} is still there`);
      }
      if (problems.length) problems.push(...stack.logs.slice(-30));
    } finally {
      // Whatever the delete left is removed all the same (the failure is still reported).
      if (problems.length) {
        const hv = makeHypervisor(host);
        await hv.undefine(vm).catch(() => undefined);
        await hv.close();
      }
      await stack.stop();
      await served.server.close();
      await inbox.close();
      rmSync(dirname(keys.privateKeyPath), { recursive: true, force: true });
    }
    if (problems.length) {
      // Vitest only logs an error thrown by a global teardown and still exits 0: fail the run by its exit code.
      console.error(`guest teardown failed:\n${problems.join('\n')}`);
      process.exitCode = 1;
    }
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    guest: SharedGuest;
  }
}
