/**
 * A RateLimitPolicy's status as a pure function of every policy in its namespace and the
 * gateways' leases: whether it is accepted (the oldest of conflicting policies wins, as
 * every gateway decides with the same function), which policies it conflicts with, and how
 * many live gateways apply its current generation.
 */
import type { RateLimitPolicyStatus } from '../../crds/rate-limit-policy.ts';
import type { ConditionUpdate } from '../../lib/kube/conditions.ts';
import { appliedBy, GATEWAY_LEASE_LABEL, nextExpiry, type GatewayLease } from '../../lib/ratelimit/applied-policies.ts';
import { compileIpFilter } from '../../lib/ratelimit/ip-filter.ts';
import { acceptPolicies, policyKey, type PolicyObject } from '../../lib/ratelimit/policy-set.ts';

/** Reasons of the Accepted and Ready conditions. */
export const Reason = {
  Accepted: 'Accepted',
  Conflicted: 'Conflicted',
  InvalidIPList: 'InvalidIPList',
  Applied: 'Applied',
  NotApplied: 'NotApplied',
} as const;

/** What the reconciler writes, and when to look again. */
export interface PolicyStatusPlan {
  status: Pick<RateLimitPolicyStatus, 'appliedBy' | 'conflicts'>;
  conditions: ConditionUpdate[];
  /** When a lease that counts expires, so the count is brought down then. */
  requeueAfterMs: number | undefined;
}

/** A gateway's lease, if the lease is one (the platform namespace holds other leases too). */
export function isGatewayLease(lease: GatewayLease & { metadata?: { labels?: Record<string, string> } }): boolean {
  return lease.metadata?.labels?.[GATEWAY_LEASE_LABEL] === 'true';
}

/** The status of `policy` among the policies of its namespace, with the gateways' leases as they are at `now`. */
export function planPolicyStatus(
  policy: PolicyObject,
  namespacePolicies: readonly PolicyObject[],
  leases: readonly GatewayLease[],
  now: number,
): PolicyStatusPlan {
  const key = policyKey(policy);
  const generation = policy.metadata?.generation ?? 0;
  const gateways = leases.filter(isGatewayLease);
  const usable = namespacePolicies.filter((p) => {
    try {
      compileIpFilter([p.spec]);
      return true;
    } catch {
      return false;
    }
  });
  const { refused, conflicts } = acceptPolicies(usable);
  const conflictList = conflicts.get(key) ?? [];
  let accepted: ConditionUpdate;
  try {
    compileIpFilter([policy.spec]);
    const lostTo = refused.get(key);
    accepted = lostTo
      ? {
          type: 'Accepted',
          status: 'False',
          reason: Reason.Conflicted,
          message: `not applied: older polic${lostTo.length === 1 ? 'y' : 'ies'} ${lostTo.join(', ')} already define${lostTo.length === 1 ? 's' : ''} a rule of the same name for the same target`,
        }
      : { type: 'Accepted', status: 'True', reason: Reason.Accepted, message: 'applied by every gateway that sees it' };
  } catch (err) {
    accepted = { type: 'Accepted', status: 'False', reason: Reason.InvalidIPList, message: (err as Error).message };
  }
  const count = appliedBy(gateways, key, generation, now);
  const ready: ConditionUpdate =
    accepted.status !== 'True'
      ? { ...accepted, type: 'Ready' }
      : count > 0
        ? {
            type: 'Ready',
            status: 'True',
            reason: Reason.Applied,
            message: `generation ${generation} applied by ${count} gateway${count === 1 ? '' : 's'}`,
          }
        : {
            type: 'Ready',
            status: 'False',
            reason: Reason.NotApplied,
            message: `no gateway applies generation ${generation} yet`,
          };
  const expiry = nextExpiry(gateways, now);
  return {
    status: { appliedBy: count, conflicts: conflictList.length ? conflictList : undefined },
    conditions: [accepted, ready],
    requeueAfterMs: expiry === undefined ? undefined : Math.max(1_000, expiry - now + 1_000),
  };
}
