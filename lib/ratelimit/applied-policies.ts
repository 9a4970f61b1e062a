/**
 * How gateways tell the operator which RateLimitPolicies they apply, given that they may not
 * write Weir resources: each gateway keeps a Lease of its own in the platform namespace,
 * renewed while it runs, whose annotation lists the policies it applies with their
 * generation. The operator counts, per policy, the unexpired leases that list its current
 * generation (`status.appliedBy`). A gateway that dies stops renewing, and its lease stops
 * counting once it expires.
 */

/** Label on every gateway's Lease, for the operator's watch. */
export const GATEWAY_LEASE_LABEL = 'weir.dev/gateway-lease';

/** Annotation with the applied policies: `{"<namespace>/<name>": <generation>, …}`. */
export const APPLIED_POLICIES_ANNOTATION = 'weir.dev/applied-policies';

/** The Lease name of a gateway: `weir-gateway-<id>`, cut to a valid name. */
export function gatewayLeaseName(gatewayId: string): string {
  const safe = gatewayId
    .toLowerCase()
    .replace(/[^a-z0-9-.]/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '');
  return `weir-gateway-${safe}`.slice(0, 253).replace(/[-.]+$/, '');
}

/** The annotation's value for the applied policies. */
export function encodeApplied(applied: ReadonlyMap<string, number>): string {
  return JSON.stringify(Object.fromEntries([...applied].sort(([a], [b]) => a.localeCompare(b))));
}

/** The applied policies an annotation lists; an unreadable one lists none. */
export function decodeApplied(value: string | undefined): Map<string, number> {
  if (!value) return new Map();
  try {
    const parsed = JSON.parse(value) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return new Map();
    return new Map(Object.entries(parsed).filter((e): e is [string, number] => Number.isInteger(e[1])));
  } catch {
    return new Map();
  }
}

/** A gateway Lease as the operator reads it. */
export interface GatewayLease {
  metadata?: { name?: string; annotations?: Record<string, string> };
  spec?: { renewTime?: string | Date; leaseDurationSeconds?: number };
}

/** Whether a lease was renewed within its duration at `now`. */
export function leaseLive(lease: GatewayLease, now: number): boolean {
  const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : NaN;
  const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
  return Number.isFinite(renewed) && renewed + duration > now;
}

/** How many live gateway leases apply a policy at its current generation. */
export function appliedBy(leases: readonly GatewayLease[], key: string, generation: number, now: number): number {
  return leases.filter(
    (l) =>
      leaseLive(l, now) &&
      decodeApplied(l.metadata?.annotations?.[APPLIED_POLICIES_ANNOTATION]).get(key) === generation,
  ).length;
}

/** When the first of the live leases that count would expire, for a status that must change then. */
export function nextExpiry(leases: readonly GatewayLease[], now: number): number | undefined {
  const expiries = leases
    .filter((l) => leaseLive(l, now))
    .map((l) => new Date(l.spec!.renewTime!).getTime() + (l.spec!.leaseDurationSeconds ?? 0) * 1000);
  return expiries.length ? Math.min(...expiries) : undefined;
}
