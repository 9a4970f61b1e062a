/**
 * A RateLimitPolicy's status as a pure function of every policy in its namespace and the
 * gateways' leases: whether it is accepted (the oldest of conflicting policies wins, as
 * every gateway decides with the same function), which policies it conflicts with, and how
 * many live gateways apply its current generation.
 */
import type { RateLimitPolicyStatus } from '../../crds/rate-limit-policy.ts';
import { setCondition, type Condition, type ConditionUpdate } from '../../lib/kube/conditions.ts';
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

/** A stored policy with the status it has. */
export type StoredPolicy = PolicyObject & { status?: RateLimitPolicyStatus };

/** What the reconciler writes, and when to look again. */
export interface PolicyStatusPlan {
  next: RateLimitPolicyStatus;
  /** When a lease that counts expires, so the count is brought down then. */
  requeueAfterMs: number | undefined;
}

/** A gateway's lease, if the lease is one (the platform namespace holds other leases too). */
export function isGatewayLease(lease: { metadata?: { labels?: Record<string, string> } }): boolean {
  return lease.metadata?.labels?.[GATEWAY_LEASE_LABEL] === 'true';
}

const compiles = (p: PolicyObject) => {
  try {
    compileIpFilter([p.spec]);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

/** The conditions of a policy: Accepted, and Ready once a gateway applies its generation. */
export function policyConditions(
  policy: PolicyObject,
  lostTo: readonly string[] | undefined,
  count: number,
): ConditionUpdate[] {
  const generation = policy.metadata?.generation ?? 0;
  const invalid = compiles(policy);
  const accepted: ConditionUpdate = invalid
    ? { type: 'Accepted', status: 'False', reason: Reason.InvalidIPList, message: invalid }
    : lostTo
      ? {
          type: 'Accepted',
          status: 'False',
          reason: Reason.Conflicted,
          message: `not applied: older polic${lostTo.length === 1 ? 'y' : 'ies'} ${lostTo.join(', ')} already define${lostTo.length === 1 ? 's' : ''} a rule of the same name for the same target`,
        }
      : { type: 'Accepted', status: 'True', reason: Reason.Accepted, message: 'applied by every gateway that sees it' };
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
  return [accepted, ready];
}

/** The status of `policy` among the policies of its namespace, with the leases as they are at `now`. */
export function planPolicyStatus(
  policy: StoredPolicy,
  namespacePolicies: readonly PolicyObject[],
  leases: readonly (GatewayLease & { metadata?: { labels?: Record<string, string> } })[],
  now: number,
): PolicyStatusPlan {
  const key = policyKey(policy);
  const generation = policy.metadata?.generation ?? 0;
  const gateways = leases.filter(isGatewayLease);
  const { refused, conflicts } = acceptPolicies(namespacePolicies.filter((p) => compiles(p) === undefined));
  const count = appliedBy(gateways, key, generation, now);
  let conditions: Condition[] | undefined = policy.status?.conditions;
  for (const update of policyConditions(policy, refused.get(key), count))
    conditions = setCondition(conditions, update, generation, new Date(now));
  const conflictList = conflicts.get(key) ?? [];
  const expiry = nextExpiry(gateways, now);
  return {
    next: {
      observedGeneration: generation,
      conditions,
      appliedBy: count,
      ...(conflictList.length ? { conflicts: conflictList } : {}),
    },
    requeueAfterMs: expiry === undefined ? undefined : Math.max(1_000, expiry - now + 1_000),
  };
}
