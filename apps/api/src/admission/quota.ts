/** A region's VM quota (`max_vms`): a pure count, so "never past the quota" is tested without Redis. */

export type QuotaVerdict = { ok: true } | { ok: false; vms: number };

/**
 * Whether the region takes VM `name`: it counts the VMs its inventory lists plus the accepted creates
 * that have not run yet, each name once and `name` itself not at all (a retried create is not a second
 * VM). No quota (`max` undefined) takes every VM.
 */
export function quotaVerdict(listed: Iterable<string>, accepted: Iterable<string>, name: string, max: number | undefined): QuotaVerdict {
  if (max === undefined) return { ok: true };
  const names = new Set([...listed, ...accepted]);
  names.delete(name);
  return names.size >= max ? { ok: false, vms: names.size } : { ok: true };
}
