/**
 * Creates placed on a host that its inventory may not list yet ("pending"): the running totals placement
 * counts per host, and the limits a reservation checks them against (the store's VmLedger keeps them).
 */

/** Running totals of a host's pending creates. */
export interface PendingTotals {
  n: number;
  vcpus: number;
  memory_mb: number;
  storage_mb: number;
}

export const NO_PENDING: PendingTotals = { n: 0, vcpus: 0, memory_mb: 0, storage_mb: 0 };

/** How much of each may be pending on the host in all (null: no limit). */
export interface PendingLimits {
  n: number | null;
  vcpus: number | null;
  memory_mb: number | null;
  storage_mb: number | null;
}
