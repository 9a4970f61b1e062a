/** A Pipeline's status as pure functions of what a reconcile found. */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { PipelineStatus } from '../../crds/pipeline.ts';
import { setCondition, type Condition, type ConditionUpdate } from '../../lib/kube/conditions.ts';

/** Condition reasons a Pipeline reports. */
export const Reason = {
  Ready: 'Ready',
  Created: 'Created',
  TenantNotFound: 'TenantNotFound',
  QuotaExceeded: 'QuotaExceeded',
  KafkaUnreachable: 'KafkaUnreachable',
  /** Kafka refused with an error that passes by itself (a leader or controller moving, a timeout). */
  KafkaBusy: 'KafkaBusy',
  ResourceConflict: 'ResourceConflict',
  Paused: 'Paused',
  ReplicasUnavailable: 'ReplicasUnavailable',
  ApplyFailed: 'ApplyFailed',
  CleanupFailed: 'CleanupFailed',
  ReconcileFailed: 'ReconcileFailed',
} as const;

/** The status to write, and the Event to record with it, if any. */
export function nextStatus(
  pipeline: KubernetesObject & { status?: PipelineStatus },
  status: PipelineStatus,
  updates: readonly ConditionUpdate[],
  now: number,
): { next: PipelineStatus; event?: { type: 'Normal' | 'Warning'; reason: string; message: string } } {
  const generation = pipeline.metadata?.generation ?? 0;
  let conditions: Condition[] | undefined = pipeline.status?.conditions;
  for (const update of updates) conditions = setCondition(conditions, update, generation, new Date(now));
  const next: PipelineStatus = { ...status, observedGeneration: generation, conditions };
  const before = pipeline.status?.conditions?.find((c) => c.type === 'Ready');
  const after = conditions?.find((c) => c.type === 'Ready');
  // A new pipeline waiting for its processor is progress, not news: nothing is said until it
  // is Ready, something is wrong, or Ready is lost.
  const progressing = after?.reason === Reason.ReplicasUnavailable && before?.status !== 'True';
  if (!after || progressing || (before?.reason === after.reason && before?.status === after.status)) return { next };
  return {
    next,
    event: {
      type: after.status === 'True' ? 'Normal' : 'Warning',
      reason: after.reason ?? 'Changed',
      message: after.message ?? '',
    },
  };
}
