/**
 * Kubernetes conditions (metav1.Condition) the way the API conventions want them:
 * lastTransitionTime moves only when the status flips, and every condition carries the
 * generation it was computed from.
 */
import type { z } from 'zod';
import type { Condition as ConditionSchema } from '../../crds/fields.ts';

export type Condition = z.output<typeof ConditionSchema>;

/** A condition as a reconciler states it; times and generation are filled in. */
export interface ConditionUpdate {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/**
 * The conditions with `update` applied. An unchanged status keeps its
 * lastTransitionTime; reason, message and observedGeneration always follow the update.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: ConditionUpdate,
  generation: number,
  now: Date,
): Condition[] {
  const existing = conditions?.find((c) => c.type === update.type);
  const next: Condition = {
    ...update,
    observedGeneration: generation,
    lastTransitionTime:
      existing && existing.status === update.status && existing.lastTransitionTime
        ? existing.lastTransitionTime
        : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  const others = (conditions ?? []).filter((c) => c.type !== update.type);
  return [...others, next].sort((a, b) => a.type.localeCompare(b.type));
}

/** The condition of a type, if present. */
export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** Whether the condition of a type is True. */
export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/**
 * A Ready condition summarising the others: True when all are True, otherwise False
 * with the first failing part's reason and message.
 */
export function summarize(
  parts: readonly ConditionUpdate[],
  readyReason: string,
  readyMessage: string,
): ConditionUpdate {
  const failing = parts.find((p) => p.status !== 'True');
  if (!failing) return { type: 'Ready', status: 'True', reason: readyReason, message: readyMessage };
  return {
    type: 'Ready',
    status: failing.status === 'Unknown' ? 'Unknown' : 'False',
    reason: failing.reason,
    message: `${failing.type}: ${failing.message}`,
  };
}
