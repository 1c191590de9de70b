/** The processor registry: one declared processor per job kind, and the step weights it gives the StepRunner. */
import { JOB_KINDS, stepsOf } from '@provisioner/contracts';
import { describe, expect, it } from 'vitest';
import { byKind, defineProcessor, stepWeights } from '../../src/processors/define.ts';
import { PROCESSOR_OF, PROCESSORS } from '../../src/processors/index.ts';

describe('processor registry', () => {
  it('has exactly one processor for every job kind', () => {
    expect([...PROCESSOR_OF.keys()].sort()).toEqual([...JOB_KINDS].sort());
    expect(PROCESSORS).toHaveLength(JOB_KINDS.length);
    for (const k of JOB_KINDS) expect(PROCESSOR_OF.get(k)?.kind).toBe(k);
  });

  it('refuses a kind with two processors, or none', () => {
    const run = async () => ({ result: null });
    expect(() => byKind([...PROCESSORS, defineProcessor({ kind: 'start', run })])).toThrow(/two processors for job kind start/);
    expect(() => byKind(PROCESSORS.filter((p) => p.kind !== 'resize'))).toThrow(/no processor for job kind resize/);
  });

  it('weighs a create’s download six times each other step, wait-ready included; other kinds evenly', () => {
    const create = PROCESSOR_OF.get('create');
    if (!create) throw new Error('no create processor');
    expect(stepWeights(create, stepsOf({ kind: 'create', wait_until: 'ready' }))).toEqual([6, 1, 1, 1, 1, 1]);
    const resize = PROCESSOR_OF.get('resize');
    if (!resize) throw new Error('no resize processor');
    expect(stepWeights(resize, stepsOf({ kind: 'resize' }))).toEqual([1, 1, 1]);
    expect(resize.onFinalFailure).toBeTypeOf('function');
    expect(create.onFinalFailure).toBeTypeOf('function');
  });
});
