/**
 * The VM's lock on the host (sh/vm-lock.sh), against the loopback host: two runs of an operation on
 * one VM never overlap (the second waits for the first, or fails with a retryable VmLockedError), a killed
 * run's lock is released with its process group, and the VM's undefine removes its lock file.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hypervisorOptions, type ImageServer, makeHypervisor, makeImages, processTable, startImageServer, uniqueName } from '../../../test/support/host.ts';
import { CanceledError, Hypervisor, VmLockedError } from '../src/index.ts';

const host = inject('loopbackHost');
let hv: Hypervisor;
let images: ImageServer;
const made: string[] = [];
const imageName = uniqueName('lkimg');

beforeAll(async () => {
  hv = makeHypervisor(host);
  images = await startImageServer(makeImages([{ name: 'tiny.qcow2', sizeMiB: 64 }]));
});

afterAll(async () => {
  for (const name of made) await hv.undefine(name).catch(() => undefined);
  await hv.close();
  await images.close();
});

/** A running VM with a blank disk: its guest ignores an ACPI shutdown, so a graceful stop lasts its whole timeout. */
async function runningVm(): Promise<string> {
  const name = uniqueName('lk');
  made.push(name);
  await hv.ensureImage({ name: imageName, url: images.url('tiny.qcow2') });
  const out = await hv.createVm({
    name,
    instanceId: `job-${name}`,
    vcpus: 1,
    memoryMiB: 64,
    tags: {},
    imageRef: { name: imageName, url: images.url('tiny.qcow2') },
    diskBytes: 256 * 1024 * 1024,
    userData: '#cloud-config\n{}\n',
    mine: false,
  });
  expect(out.kind).toBe('done');
  return name;
}

describe('the VM lock on the host', () => {
  it('makes a second operation on the VM wait for the first: a start during a graceful stop starts the VM the stop stopped', async () => {
    const name = await runningVm();
    expect(existsSync(hv.lockFile(name))).toBe(true);
    const t0 = Date.now();
    const stop = hv.shutdown(name, 2500);
    // Once the stop holds the lock: its script runs on the host (the lock's wrapper, `vm-lock`, shows the same
    // arguments while it still waits for the lock, and execs the script once it holds it).
    const holding = () =>
      processTable()
        .split('\n')
        .some((l) => l.includes(` shutdown ${host.libvirt_uri} ${name} `) && !l.includes('vm-lock'));
    while (!holding()) await new Promise((r) => setTimeout(r, 20));
    const start = hv.start(name);
    // Without the lock the start would find the VM running and answer `already` at once.
    const [stopped, started] = await Promise.all([stop, start]);
    expect(stopped.result).toBe('forced');
    expect(started.result).toBe('started');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2500);
    expect(await hv.domainState(name)).toBe('running');
  });

  it('fails with a retryable VmLockedError when the lock stays taken for the whole wait', async () => {
    const name = await runningVm();
    const impatient = new Hypervisor({ ...hypervisorOptions(host), vmLockWaitMs: 300 });
    try {
      const stop = hv.shutdown(name, 2000);
      while (!processTable().includes(` shutdown ${host.libvirt_uri} ${name} `)) await new Promise((r) => setTimeout(r, 20));
      const err = await impatient.powerOff(name).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VmLockedError);
      expect(err).toMatchObject({ code: 'VM_LOCKED', retryable: true });
      expect((await stop).result).toBe('forced');
    } finally {
      await impatient.close();
    }
  });

  it('is released when the run holding it is killed (its process group), and the waiting run goes on', async () => {
    const name = await runningVm();
    const ac = new AbortController();
    const stop = hv.shutdown(name, 30_000, { signal: ac.signal }).catch((e: unknown) => e);
    while (!processTable().includes(` shutdown ${host.libvirt_uri} ${name} `)) await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    const off = hv.powerOff(name);
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    expect(await stop).toBeInstanceOf(CanceledError);
    expect(await off).toEqual({ changed: true });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await hv.domainState(name)).toBe('shut off');
  });

  it('is removed with the VM, by the undefine that waited for it', async () => {
    const name = await runningVm();
    const stop = hv.shutdown(name, 1500);
    while (!processTable().includes(` shutdown ${host.libvirt_uri} ${name} `)) await new Promise((r) => setTimeout(r, 20));
    const gone = hv.undefine(name);
    expect((await stop).result).toBe('forced');
    expect((await gone).existed).toBe(true);
    expect(existsSync(hv.lockFile(name))).toBe(false);
    expect(existsSync(hv.paths(name).disk)).toBe(false);
  });
});
