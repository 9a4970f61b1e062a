/** The Kafka topics a Pipeline should have, as a pure function of its spec. */
import type { PipelineSpec } from '../../crds/pipeline.ts';
import type { TopicSpec } from '../../lib/kafka/topic-admin.ts';
import { topicName, type TopicRole } from '../../lib/platform/pipeline-names.ts';

/** Milliseconds of a Go-style duration (the API accepts ms, s, m and h). */
export function durationMs(duration: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, value, unit] of duration.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g))
    total += Number(value) * units[unit!]!;
  return Math.round(total);
}

/** Topics of a pipeline by role: input, output, retry and dead-letter. */
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
  ]);
  if (spec.sinks.topic.enabled)
    topics.set('Output', { name: topicName(namespace, pipeline, 'Output'), ...base, config: config() });
  return topics;
}

/** Partitions the pipeline's topics take from the tenant's quota. */
export function partitionsUsed(spec: PipelineSpec): number {
  return spec.source.partitions * (spec.sinks.topic.enabled ? 4 : 3);
}
