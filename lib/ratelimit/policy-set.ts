/**
 * Which RateLimitPolicies apply, as pure functions of the policies: conflicts (two policies
 * with a rule of the same name for the same target — a pipeline, or a whole namespace),
 * acceptance (the oldest of conflicting policies wins, as Gateway API policies resolve
 * theirs; the others are not applied at all, so that no half of a policy is enforced), and
 * the policies that apply to one pipeline, namespace-wide ones first. Gateways and the
 * operator's status controller call the same functions, so what the status says is what
 * gateways do.
 */
import type { RateLimitPolicySpec } from '../../crds/rate-limit-policy.ts';

/** A RateLimitPolicy as the informer caches it. */
export interface PolicyObject {
  metadata?: {
    name?: string;
    namespace?: string;
    generation?: number;
    creationTimestamp?: string | Date;
    uid?: string;
  };
  spec: RateLimitPolicySpec;
}

/** `namespace/name` of a policy. */
export function policyKey(policy: PolicyObject): string {
  return `${policy.metadata?.namespace ?? ''}/${policy.metadata?.name ?? ''}`;
}

/** What a policy limits: one pipeline, or (`*`) every pipeline of its namespace. */
export function policyTarget(policy: PolicyObject): string {
  return `${policy.metadata?.namespace ?? ''}/${policy.spec.targetRef?.name ?? '*'}`;
}

/** Oldest first; the name breaks ties, as the API server's timestamps have one-second resolution. */
export function byAge(a: PolicyObject, b: PolicyObject): number {
  const ta = new Date(a.metadata?.creationTimestamp ?? 0).getTime();
  const tb = new Date(b.metadata?.creationTimestamp ?? 0).getTime();
  return ta !== tb ? ta - tb : policyKey(a).localeCompare(policyKey(b));
}

/** For each policy key, the other policies (by name, in its namespace) it conflicts with, sorted. */
export function findConflicts(policies: readonly PolicyObject[]): Map<string, string[]> {
  const byTargetRule = new Map<string, PolicyObject[]>();
  for (const policy of policies) {
    for (const rule of new Set(policy.spec.rules.map((r) => r.name))) {
      const slot = `${policyTarget(policy)}#${rule}`;
      byTargetRule.set(slot, [...(byTargetRule.get(slot) ?? []), policy]);
    }
  }
  const conflicts = new Map<string, Set<string>>(policies.map((p) => [policyKey(p), new Set()]));
  for (const group of byTargetRule.values()) {
    if (group.length < 2) continue;
    for (const policy of group)
      for (const other of group)
        if (other !== policy) conflicts.get(policyKey(policy))!.add(other.metadata?.name ?? '');
  }
  return new Map([...conflicts].map(([key, names]) => [key, [...names].sort()]));
}

/** Whether each policy is applied, and if not, which older policy it lost to. */
export interface Acceptance {
  accepted: PolicyObject[];
  /** Refused policies by key, with the accepted policies they conflict with. */
  refused: Map<string, string[]>;
  conflicts: Map<string, string[]>;
}

/**
 * Accepts policies oldest first, each unless it conflicts with one accepted before it. A
 * policy that lost only to refused policies is accepted: nothing of theirs is enforced.
 */
export function acceptPolicies(policies: readonly PolicyObject[]): Acceptance {
  const conflicts = findConflicts(policies);
  const accepted: PolicyObject[] = [];
  const refused = new Map<string, string[]>();
  for (const policy of [...policies].sort(byAge)) {
    const slots = policy.spec.rules.map((r) => `${policyTarget(policy)}#${r.name}`);
    const namespace = policy.metadata?.namespace;
    const winners = accepted
      .filter(
        (a) =>
          a.metadata?.namespace === namespace &&
          a.spec.rules.some((r) => slots.includes(`${policyTarget(a)}#${r.name}`)),
      )
      .map((a) => a.metadata?.name ?? '');
    if (winners.length) {
      refused.set(policyKey(policy), winners.sort());
      continue;
    }
    accepted.push(policy);
  }
  return { accepted, refused, conflicts };
}

/** The accepted policies that apply to a pipeline: namespace-wide ones first, then the pipeline's own, each oldest first. */
export function policiesFor(accepted: readonly PolicyObject[], namespace: string, pipeline: string): PolicyObject[] {
  const mine = accepted.filter((p) => p.metadata?.namespace === namespace);
  return [
    ...mine.filter((p) => !p.spec.targetRef).sort(byAge),
    ...mine.filter((p) => p.spec.targetRef?.name === pipeline).sort(byAge),
  ];
}
