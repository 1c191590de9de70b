/**
 * Property tests of admission's pure rules (apps/api/src/admission): placement never over capacity,
 * never on a cordoned host, the same answer for the same inventory; reservations within pendingLimits
 * never take a host past its capacity; the region quota is never exceeded.
 */
import {
  GUEST_UNKNOWN,
  type HostInfoRecord,
  HostSchema,
  type InventoryEntry,
  type InventoryVm,
  NO_PENDING,
  type PendingLimits,
  type PendingTotals,
} from '@provisioner/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type HostCapacity, type HostState, hostCapacity, type Need, pendingLimits } from '../../src/admission/capacity.ts';
import { place } from '../../src/admission/placement.ts';
import { quotaVerdict } from '../../src/admission/quota.ts';

const FP = `SHA256:${'A'.repeat(43)}`;
const MiB = 1024 * 1024;

const ratiosArb = fc.record({
  cpu_allocation_ratio: fc.constantFrom(1, 1.5, 4, 16),
  memory_allocation_ratio: fc.constantFrom(1, 1.2, 1.5),
});

// Sizes in whole GiB (as instance types have them), so that needs meet free room exactly and edges are tried.
const gib = (min: number, max: number) => fc.integer({ min, max }).map((g) => g * 1_024);

const needArb: fc.Arbitrary<Need> = fc.record({
  vcpus: fc.integer({ min: 1, max: 16 }),
  memory_mb: gib(1, 32),
  storage_mb: gib(1, 200),
});

function listedVm(name: string, vcpus: number, memory_mb: number): InventoryVm {
  return {
    name,
    uuid: `00000000-0000-4000-8000-${name.padStart(12, '0').slice(-12)}`,
    dom_id: null,
    state: 'running',
    managed: true,
    tags: {},
    ip: null,
    vcpus,
    memory_mb,
    image: null,
    instance_type: null,
    addresses: [],
    guest: GUEST_UNKNOWN,
    snapshots: [],
  };
}

const infoArb: fc.Arbitrary<HostInfoRecord | null> = fc.option(
  fc.record({
    observed_at: fc.constant('2030-01-01T00:00:00.000Z'),
    cpus: fc.integer({ min: 1, max: 64 }),
    memory_mb: gib(1, 256),
    memory_available_mb: fc.integer({ min: 0, max: 262_144 }),
    disk_free_bytes: gib(0, 2_000).map((mb) => mb * MiB + 123),
    disk_total_bytes: fc.constant(4_000_000 * MiB),
    kvm: fc.boolean(),
  }),
  { freq: 4 },
);

/** One host's state: config caps and reserves, inventory, host info, pending creates, queue, cordon. */
function stateArb(i: number): fc.Arbitrary<HostState> {
  return fc.record({
    host: fc
      .record({
        max_vms: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
        reserved_vcpus: fc.integer({ min: 0, max: 4 }),
        reserved_memory_mb: gib(0, 4),
        reserved_disk_mb: gib(0, 20),
        max_concurrent_operations: fc.integer({ min: 1, max: 8 }),
      })
      .map((h) => HostSchema.parse({ name: `h${i}`, address: '127.0.0.1', private_key_path: '/nonexistent/key', host_key_fingerprint: FP, ...h })),
    entry: fc.option(
      fc
        .record({
          vms: fc.array(fc.tuple(fc.integer({ min: 0, max: 8 }), gib(0, 16)), { maxLength: 12 }),
          error: fc.option(fc.constant('listing failed')),
        })
        .map(
          ({ vms, error }): InventoryEntry => ({
            region: 'r1',
            host: `h${i}`,
            observed_at: null,
            attempted_at: '2030-01-01T00:00:00.000Z',
            error,
            vms: vms.map(([c, m], k) => listedVm(`vm${i}x${k}`, c, m)),
          }),
        ),
    ),
    info: infoArb,
    pending: fc.record({
      n: fc.integer({ min: 0, max: 5 }),
      vcpus: fc.integer({ min: 0, max: 20 }),
      memory_mb: gib(0, 40),
      storage_mb: gib(0, 200),
    }),
    queued: fc.integer({ min: 0, max: 10 }),
    cordon: fc.option(fc.record({ cordoned_by: fc.constant('alice'), cordoned_at: fc.constant('2030-01-01T00:00:00.000Z'), reason: fc.option(fc.string()) }), {
      freq: 3,
    }),
  });
}

const regionArb: fc.Arbitrary<HostState[]> = fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => stateArb(i))));

/** A region of identical hosts (h0, h1, …): every rule ties, so only configuration order may decide. */
const twinRegionArb: fc.Arbitrary<HostState[]> = fc
  .tuple(stateArb(0), fc.integer({ min: 2, max: 5 }))
  .map(([s, n]) => Array.from({ length: n }, (_, i) => ({ ...structuredClone(s), host: { ...s.host, name: `h${i}` } })));

/** A region and a need that meets one host's free vCPUs, memory or disk exactly, or by one more or less. */
const edgeArb = fc.tuple(regionArb, ratiosArb, needArb).chain(([states, r, base]) =>
  fc
    .record({
      pick: fc.nat({ max: states.length - 1 }),
      dim: fc.constantFrom('vcpus', 'memory_mb', 'storage_mb' as const),
      delta: fc.integer({ min: -1, max: 1 }),
    })
    .map(({ pick, dim, delta }) => {
      const c = hostCapacity(states[pick] as HostState, r);
      const free =
        dim === 'vcpus' ? (c.vcpus_total ?? 0) - c.vcpus_used : dim === 'memory_mb' ? (c.memory_mb_total ?? 0) - c.memory_mb_used : (c.disk_free_mb ?? 0);
      return { states, r, need: { ...base, [dim]: Math.max(0, free + delta) } as Need };
    }),
);

/** Whether the VM fits on the host by its capacity: counted here field by field, apart from misfit(). */
function fits(c: HostCapacity, need: Need): boolean {
  return (
    (c.max_vms === null || c.vms + 1 <= c.max_vms) &&
    (c.vcpus_total === null || c.vcpus_used + need.vcpus <= c.vcpus_total) &&
    (c.memory_mb_total === null || c.memory_mb_used + need.memory_mb <= c.memory_mb_total) &&
    (c.disk_free_mb === null || need.storage_mb <= c.disk_free_mb)
  );
}

describe('placement (property)', () => {
  it('never places a VM where it would pass the host capacity', () => {
    fc.assert(
      fc.property(regionArb, needArb, ratiosArb, (states, need, r) => {
        const p = place(states, need, r);
        if (!p.ok) return;
        const s = states.find((x) => x.host.name === p.host) as HostState;
        expect(fits(hostCapacity(s, r), need)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('never places a VM on a cordoned host, and refuses only when no open host has room', () => {
    fc.assert(
      fc.property(regionArb, needArb, ratiosArb, (states, need, r) => {
        const p = place(states, need, r);
        const open = states.filter((s) => !s.cordon && fits(hostCapacity(s, r), need));
        if (p.ok) {
          expect(states.find((x) => x.host.name === p.host)?.cordon).toBeNull();
        } else {
          expect(open).toEqual([]);
          expect(p.reasons.map((x) => x.host)).toEqual(states.map((s) => s.host.name));
          for (const x of p.reasons) expect(x.cordoned === true).toBe(states.find((s) => s.host.name === x.host)?.cordon !== null);
        }
        expect(p.ok).toBe(open.length > 0);
      }),
      { numRuns: 500 },
    );
  });

  it("at the edge of a host's free room, places exactly when an open host has room", () => {
    fc.assert(
      fc.property(edgeArb, ({ states, r, need }) => {
        const p = place(states, need, r);
        const open = states.filter((s) => !s.cordon && fits(hostCapacity(s, r), need));
        expect(p.ok).toBe(open.length > 0);
        if (p.ok) expect(open.map((s) => s.host.name)).toContain(p.host);
      }),
      { numRuns: 1_000 },
    );
  });

  it('gives the same answer for the same inventory', () => {
    fc.assert(
      fc.property(regionArb, needArb, ratiosArb, (states, need, r) => {
        const first = place(states, need, r);
        expect(place(structuredClone(states), { ...need }, { ...r })).toEqual(first);
        expect(place(states, need, r)).toEqual(first);
      }),
      { numRuns: 300 },
    );
  });

  it('breaks ties between identical hosts by configuration order, every time', () => {
    fc.assert(
      fc.property(twinRegionArb, needArb, ratiosArb, (states, need, r) => {
        const answers = Array.from({ length: 5 }, () => place(states, need, r));
        for (const a of answers) expect(a).toEqual(answers[0]);
        const first = answers[0];
        if (first?.ok) expect(first.host).toBe('h0');
      }),
      { numRuns: 200 },
    );
  });
});

/** The ledger's check (reservePending.lua): a field with a positive need fits when pending plus need is within its limit. */
function ledgerAdmits(pending: PendingTotals, need: PendingTotals, limits: PendingLimits): boolean {
  return (['n', 'vcpus', 'memory_mb', 'storage_mb'] as const).every((f) => {
    const lim = limits[f];
    return lim === null || need[f] <= 0 || pending[f] + need[f] <= Math.max(0, lim);
  });
}

describe('capacity (property)', () => {
  it('creates reserved within pendingLimits never take a host past its capacity', () => {
    fc.assert(
      fc.property(stateArb(0), fc.array(needArb, { minLength: 1, maxLength: 30 }), ratiosArb, (start, needs, r) => {
        const limits = pendingLimits(start, r);
        let pending: PendingTotals = { ...NO_PENDING };
        for (const need of needs) {
          const add = { n: 1, ...need };
          if (!ledgerAdmits(pending, add, limits)) continue;
          pending = {
            n: pending.n + 1,
            vcpus: pending.vcpus + need.vcpus,
            memory_mb: pending.memory_mb + need.memory_mb,
            storage_mb: pending.storage_mb + need.storage_mb,
          };
          const c = hostCapacity({ ...start, pending }, r);
          if (c.max_vms !== null) expect(c.vms).toBeLessThanOrEqual(c.max_vms);
          if (c.vcpus_total !== null) expect(c.vcpus_used).toBeLessThanOrEqual(c.vcpus_total);
          if (c.memory_mb_total !== null) expect(c.memory_mb_used).toBeLessThanOrEqual(c.memory_mb_total);
          if (c.disk_free_mb !== null) expect(c.disk_free_mb).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('quota (property)', () => {
  it('admitted creates never take a region past max_vms; a refusal means the others fill it', () => {
    const names = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
    fc.assert(
      fc.property(fc.array(names, { maxLength: 8 }), fc.array(names, { maxLength: 30 }), fc.integer({ min: 1, max: 6 }), (listed, tries, max) => {
        const before = new Set(listed);
        fc.pre(before.size <= max);
        const accepted = new Set<string>();
        for (const name of tries) {
          const v = quotaVerdict(listed, accepted, name, max);
          const others = new Set([...listed, ...accepted]);
          others.delete(name);
          if (v.ok) accepted.add(name);
          else expect(v.vms).toBe(others.size);
          expect(v.ok).toBe(others.size < max);
          expect(new Set([...listed, ...accepted]).size).toBeLessThanOrEqual(max);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('no quota admits every create', () => {
    fc.assert(
      fc.property(fc.array(fc.string()), fc.array(fc.string()), fc.string(), (listed, accepted, name) => quotaVerdict(listed, accepted, name, undefined).ok),
    );
  });
});
