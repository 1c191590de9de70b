import { type CreatePayload, decryptUserData } from '@provisioner/contracts';
import { AlreadyExistsError, DomainNotFoundError } from '@provisioner/libvirt';
import type { z } from 'zod';
import type { ProcessorContext } from './context.ts';

type Payload = z.infer<typeof CreatePayload>;

/** Step weights: the download dominates when the image is not cached yet. */
export const CREATE_WEIGHTS = [60, 10, 10, 10, 10];

/**
 * Creates a VM: image cached on the host → overlay disk → cloud-init seed → define → start. Every step
 * is idempotent (the job id is the domain's instance id), so a retried or resumed job skips what exists.
 */
export async function processCreate(ctx: ProcessorContext, p: Payload) {
  const { hv, steps, signal } = ctx;
  const instanceId = String(ctx.job.id);
  // Whether a domain of this name is another operation's is read while the image is made sure of (which
  // touches only the shared image cache): nothing of the VM's own is made before both are done.
  const [mine, fetched] = await Promise.allSettled([
    assertNotSomeoneElses(ctx, p.vm_name, instanceId),
    steps.run('fetch-image', (report) => hv.ensureImage(p.image, { signal, onProgress: (pct) => report(pct / 100) })),
  ]);
  if (mine.status === 'rejected') throw mine.reason;
  if (fetched.status === 'rejected') throw fetched.reason;
  const image = fetched.value;
  const disk = await steps.run('create-disk', () => hv.createDisk(p.vm_name, image.path, p.storage_mb * 1024 * 1024, { signal }));
  const seed = await steps.run('create-seed', () => {
    const userData = p.user_data_enc ? decryptUserData(p.user_data_enc, ctx.config.user_data_key, instanceId) : '#cloud-config\n{}\n';
    return hv.createSeed(p.vm_name, instanceId, userData, { signal });
  });
  await steps.run('define', () =>
    hv.defineDomain(
      {
        name: p.vm_name,
        instanceId,
        vcpus: p.vcpus,
        memoryMiB: p.memory_mb,
        diskPath: disk.path,
        seedPath: seed.path,
        tags: p.tags,
        image: p.image.name,
        instanceType: p.instance_type,
      },
      { signal },
    ),
  );
  await steps.run('start', () => hv.start(p.vm_name, { signal }));
  return { vm_name: p.vm_name, region: p.region, host: p.host, state: 'running', image_sha256: image.sha256 };
}

/** A domain of this name that another operation made is never touched (nor its disk). */
async function assertNotSomeoneElses(ctx: ProcessorContext, name: string, instanceId: string): Promise<void> {
  try {
    const d = await ctx.hv.getDomain(name, { signal: ctx.signal });
    if (d.instanceId !== instanceId) throw new AlreadyExistsError(`a domain named '${name}' already exists on host ${ctx.job.data.host}`);
  } catch (e) {
    if (!(e instanceof DomainNotFoundError)) throw e;
  }
}

/** After a create fails for good: remove what this job made (domain, disk, seed) and free the name. */
export async function cleanupCreate(ctx: Omit<ProcessorContext, 'steps'>, p: Payload): Promise<void> {
  const instanceId = String(ctx.job.id);
  let ours = true;
  try {
    const d = await ctx.hv.getDomain(p.vm_name);
    ours = d.instanceId === instanceId;
  } catch (e) {
    if (!(e instanceof DomainNotFoundError)) throw e;
  }
  if (!ours) return;
  await ctx.hv.undefine(p.vm_name);
  await ctx.stores.ledger.free(p.region, p.host, p.vm_name);
}
