/** The Kafka topics a Pipeline should have, as a pure function of its spec. */
import type { PipelineSpec } from '../../crds/pipeline.ts';
import type { TopicSpec } from '../../lib/kafka/topic-admin.ts';
import { durationMs } from '../../lib/platform/duration.ts';
import { topicName, type TopicRole } from '../../lib/platform/pipeline-names.ts';

/** Topics of a pipeline by role: input, output, retry, dead-letter and changelog. */
export function desiredTopics(namespace: string, pipeline: string, spec: PipelineSpec): Map<TopicRole, TopicSpec> {
  const retention = String(durationMs(spec.source.retention));
  const base = { partitions: spec.source.partitions, replicationFactor: spec.source.replicationFactor };
  const config = (extra: Record<string, string> = {}) => ({
    'cleanup.policy': 'delete',
    'retention.ms': retention,
    ...extra,
  });
  const topics = new Map<TopicRole, TopicSpec>([
    ['Input', { name: topicName(namespace, pipeline, 'Input'), ...base, config: config() }],
    ['Retry', { name: topicName(namespace, pipeline, 'Retry'), ...base, config: config() }],
    // Dead letters wait for a person: they are kept four times as long as input.
    [
      'DeadLetter',
      {
        name: topicName(namespace, pipeline, 'DeadLetter'),
        ...base,
        config: config({ 'retention.ms': String(4 * durationMs(spec.source.retention)) }),
      },
    ],
    // The processor's window state, one key per window: compaction keeps the latest of each,
    // and partitions follow the input's, since each input partition's state lives in its own.
    [
      'Changelog',
      {
        name: topicName(namespace, pipeline, 'Changelog'),
        ...base,
        config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000' },
      },
    ],
  ]);
  if (spec.sinks.topic.enabled)
    topics.set('Output', { name: topicName(namespace, pipeline, 'Output'), ...base, config: config() });
  return topics;
}

/** Partitions the pipeline's topics take from the tenant's quota. */
export function partitionsUsed(spec: PipelineSpec): number {
  return spec.source.partitions * (spec.sinks.topic.enabled ? 5 : 4);
}
