/** Names a Pipeline's parts derive from its namespace and name. */
import type { TopicRoles } from '../../crds/pipeline.ts';

export type TopicRole = (typeof TopicRoles)[number];

/** Topic name suffix of each role. */
export const TOPIC_SUFFIX: Record<TopicRole, string> = {
  Input: 'input',
  Output: 'output',
  Retry: 'retry',
  DeadLetter: 'dlq',
  Changelog: 'changelog',
};

/**
 * `weir.<namespace>.<pipeline>.<role>`: the namespace belongs to one tenant and names hold
 * no dots, so no two pipelines, of one tenant or of two, can compute the same topic.
 */
export function topicName(namespace: string, pipeline: string, role: TopicRole): string {
  return `weir.${namespace}.${pipeline}.${TOPIC_SUFFIX[role]}`;
}

/** The processor's Deployment, Service, HPA, PDB and ConfigMap share this name. */
export function processorName(pipeline: string): string {
  return `${pipeline}-processor`;
}

/** Consumer group of the pipeline's processors. */
export function consumerGroup(namespace: string, pipeline: string): string {
  return `weir.${namespace}.${pipeline}.processor`;
}

/** Labels of a pipeline's objects. */
export function pipelineLabels(pipeline: string): Record<string, string> {
  return {
    'app.kubernetes.io/managed-by': 'weir-operator',
    'app.kubernetes.io/part-of': 'weir',
    'app.kubernetes.io/name': 'weir-processor',
    'app.kubernetes.io/instance': pipeline,
    'weir.dev/pipeline': pipeline,
  };
}
