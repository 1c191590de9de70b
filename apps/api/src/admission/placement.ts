/**
 * Placement: which host of a region a new VM goes to. A pure function of the hosts' states
 * (capacity.ts), so the same inventory always gives the same answer.
 */
import type { HostCordon } from '@provisioner/store';
import { type HostCapacity, type HostState, hostCapacity, loadAfter, misfit, type Need, type Ratios } from './capacity.ts';

/** Why a host was passed over; `cordoned` when it was for its cordon (not for room). */
export interface Refusal {
  host: string;
  reason: string;
  cordoned?: true;
}

export type Placement = { ok: true; host: string; capacity: HostCapacity[] } | { ok: false; reasons: Refusal[]; capacity: HostCapacity[] };

/** How a cordon reads in a refusal: `cordoned by alice at 2030-…: disk swap`. */
export function cordonText(c: HostCordon): string {
  return `cordoned by ${c.cordoned_by} at ${c.cordoned_at}${c.reason ? `: ${c.reason}` : ''}`;
}

/**
 * Picks the host for a VM among `states` (the region's hosts, in configuration order): only hosts not
 * cordoned that it fits on; then hosts whose last listing succeeded; hosts whose operation queue is not
 * already at their operation limit; the least loaded after placement; fewer VMs; fewer queued operations;
 * the first configured.
 */
export function place(states: HostState[], need: Need, r: Ratios): Placement {
  const capacity = states.map((s) => hostCapacity(s, r));
  const reasons: Refusal[] = [];
  let best: { host: string; score: number[] } | null = null;
  for (const [i, s] of states.entries()) {
    const c = capacity[i] as HostCapacity;
    if (s.cordon) {
      reasons.push({ host: c.host, reason: cordonText(s.cordon), cordoned: true });
      continue;
    }
    const why = misfit(c, need);
    if (why) {
      reasons.push({ host: c.host, reason: why });
      continue;
    }
    const score = [s.entry?.error ? 1 : 0, s.queued >= s.host.max_concurrent_operations ? 1 : 0, loadAfter(c, need), c.vms, s.queued, i];
    if (!best || less(score, best.score)) best = { host: c.host, score };
  }
  return best ? { ok: true, host: best.host, capacity } : { ok: false, reasons, capacity };
}

function less(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y) return x < y;
  }
  return false;
}
