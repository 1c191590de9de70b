/**
 * One job kind's processor = one declared object (as the API's routes are, `defineRoute`): its kind, the
 * weight of its steps, what it runs and what it undoes when it fails for good. The worker's dispatcher
 * (processor.ts) names no kind: it takes the definition from the registry (./index.ts). The steps
 * themselves are the contract's (`stepsOf`), which the API lists before any worker runs the job.
 *
 * @example
 * export default defineProcessor({
 *   kind: 'start',
 *   async run(ctx, p) {
 *     const r = await ctx.steps.run('start', () => ctx.hv.start(p.vm_name, { signal: ctx.signal }));
 *     return { result: { vm_name: p.vm_name, changed: r.changed } };
 *   },
 * });
 */
import { JOB_KINDS, type JobKind, type JobPayload } from '@provisioner/contracts';
import type { DomainInfo, GuestStatus } from '@provisioner/libvirt';
import type { ProcessorContext } from './context.ts';

export type PayloadOf<K extends JobKind> = Extract<JobPayload, { kind: K }>;

/** What an operation on a VM saw of it at its end: the inventory patch takes it instead of reading it again. */
export interface SeenVm {
  /** The domain as the job's last exec read it. */
  domain?: DomainInfo;
  /** The guest, when the job asked it (a create that waited for its guest). */
  guest?: GuestStatus;
}

/** What a run gives back: the job's result (BullMQ's return value) and what it saw of its VM. */
export interface Ran {
  result: unknown;
  seen?: SeenVm;
}

export interface ProcessorDef<K extends JobKind> {
  kind: K;
  /** Relative weights of steps by name (the progress share of each); a step not named weighs 1. */
  weights?: Readonly<Record<string, number>>;
  run(ctx: ProcessorContext, p: PayloadOf<K>): Promise<Ran>;
  /**
   * After the job failed for good or was canceled, before its end is settled: undoes or recovers what it
   * left on the host. Runs without the job's (aborted) signal; its failure is logged, never the job's error.
   */
  onFinalFailure?(ctx: ProcessorContext, p: PayloadOf<K>): Promise<void>;
}

/** A definition with its payload type erased, as the registry holds it. */
export type Processor = ProcessorDef<JobKind> & { run(ctx: ProcessorContext, p: JobPayload): Promise<Ran> };

/** Types a processor definition (its run's payload from its kind). */
export function defineProcessor<K extends JobKind>(d: ProcessorDef<K>): Processor {
  return d as unknown as Processor;
}

/** The weights of `steps` in order, for the StepRunner. */
export function stepWeights(p: Pick<Processor, 'weights'>, steps: readonly string[]): number[] {
  return steps.map((s) => p.weights?.[s] ?? 1);
}

/** Checks that every job kind has exactly one processor; answers them by kind. */
export function byKind(list: readonly Processor[]): ReadonlyMap<JobKind, Processor> {
  const map = new Map<JobKind, Processor>();
  for (const p of list) {
    if (map.has(p.kind)) throw new Error(`two processors for job kind ${p.kind}`);
    map.set(p.kind, p);
  }
  const missing = JOB_KINDS.filter((k) => !map.has(k));
  if (missing.length) throw new Error(`no processor for job kind ${missing.join(', ')}`);
  return map;
}
