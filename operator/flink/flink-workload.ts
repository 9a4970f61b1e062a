/**
 * How a Flink pipeline's job shows in the Pipeline controller's view: its WorkloadReady
 * follows FlinkJobReady, and the status fields the Flink controller owns are left out of
 * what the Pipeline controller applies, so neither writes back the other's older values.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { PipelineStatus } from '../../crds/pipeline.ts';
import { findCondition, type ConditionUpdate } from '../../lib/kube/conditions.ts';
import { sameJson } from '../../lib/kube/same-json.ts';
import { FLINK_CONDITIONS } from './job-observation.ts';
import { JOB_CONDITION } from './job-plan.ts';

/** WorkloadReady of a Flink pipeline, from the Flink controller's FlinkJobReady. */
export function flinkWorkloadCondition(status: PipelineStatus | undefined): ConditionUpdate {
  const job = findCondition(status?.conditions, JOB_CONDITION);
  if (!job)
    return { type: 'WorkloadReady', status: 'False', reason: 'FlinkJobPending', message: 'no Flink job reported yet' };
  return {
    type: 'WorkloadReady',
    status: job.status,
    reason: job.reason ?? 'Unknown',
    message: `Flink: ${job.message ?? ''}`,
  };
}

/** The status without status.flink and the Flink controller's conditions. */
export function withoutFlinkStatus(status: PipelineStatus | undefined): PipelineStatus {
  const { flink: _, ...rest } = status ?? {};
  if (!rest.conditions) return rest;
  return { ...rest, conditions: rest.conditions.filter((c) => !FLINK_CONDITIONS.includes(c.type)) };
}

/** Whether an update changed the Flink controller's part of a Pipeline's status, which the Pipeline controller summarizes. */
export function flinkStatusChanged(obj: KubernetesObject, old: KubernetesObject): boolean {
  const part = (o: KubernetesObject) =>
    (o as { status?: PipelineStatus }).status?.conditions?.find((c) => c.type === JOB_CONDITION);
  return !sameJson(part(obj), part(old));
}

/** Whether an update changed the Pipeline controller's TopicsReady, which a first submission waits for. */
export function topicsReadyChanged(obj: KubernetesObject, old: KubernetesObject): boolean {
  const part = (o: KubernetesObject) =>
    (o as { status?: PipelineStatus }).status?.conditions?.find((c) => c.type === 'TopicsReady')?.status;
  return part(obj) !== part(old);
}

/** The pipeline with {@link withoutFlinkStatus} applied to its status, to compare with what is applied. */
export function withoutFlinkParts<T extends KubernetesObject & { status?: PipelineStatus }>(pipeline: T): T {
  return { ...pipeline, status: withoutFlinkStatus(pipeline.status) };
}
