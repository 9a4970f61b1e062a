/**
 * What the processor makes of its compiled configuration before it reads a record: how
 * partitions become tasks, which topics it reads and writes, and which spec combinations
 * it refuses. Pure functions of the configuration.
 */
import type { ProcessorConfig } from '../../lib/platform/processor-config.ts';
import type { TaskMode } from '../../lib/kafka/consumer-task-assigner.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';

/** How the processor runs a pipeline. */
export interface PipelinePlan {
  /**
   * `partitioned` when every aggregation groups by the partition key: a group's events are
   * then all in one partition, so each partition is a task of its own that any replica may
   * run. Otherwise `single`: one replica reads every partition (the others stand by), since
   * the native engine does not shuffle events between replicas (engine Flink does).
   */
  mode: TaskMode;
  /** Why the mode is what it is, for the log. */
  modeReason: string;
  /** The topics the consumer group reads: input and retry. */
  readTopics: string[];
  /** Whether results go to the output topic. */
  outputTopic: string | undefined;
}

const NUMERIC = new Set(['Sum', 'Avg', 'Min', 'Max', 'Percentiles']);

/** Decides the plan; throws an InvalidConfig error naming the field when the spec cannot run. */
export function planPipeline(config: ProcessorConfig): PipelinePlan {
  const spec = config.spec;
  const aggregations = spec.aggregate ?? [];
  const functions = new Set((spec.functions ?? []).map((f) => f.name));
  const pii = new Set(config.tenant?.piiFields ?? []);
  for (const [i, agg] of aggregations.entries())
    for (const [j, m] of agg.measures.entries()) {
      const at = `spec.aggregate[${i}].measures[${j}]`;
      if (m.type === 'Function' && !functions.has(m.function ?? ''))
        throw weirError(Errors.InvalidConfig, `${at}.function: ${m.function} is not one of spec.functions`);
      // A masked value is a pseudonym, not a number: the measure would count nothing.
      if (NUMERIC.has(m.type) && m.field && pii.has(m.field))
        throw weirError(
          Errors.InvalidConfig,
          `${at}.field: ${m.field} is a PII field of the tenant (dataPolicy.piiFields); it is masked before aggregation, so ${m.type} cannot use it`,
        );
    }
  const key = spec.source.partitionKey;
  const apart = aggregations.filter((a) => !key || !(a.groupBy ?? []).includes(key)).map((a) => a.name);
  const mode: TaskMode = apart.length === 0 ? 'partitioned' : 'single';
  const modeReason =
    mode === 'partitioned'
      ? aggregations.length === 0
        ? 'no aggregations: every partition is a task of its own'
        : `every aggregation groups by the partition key ${key}: every partition is a task of its own`
      : `${apart.join(', ')} ${apart.length === 1 ? 'does' : 'do'} not group by the partition key${key ? ` ${key}` : ''}: one replica reads every partition, the others stand by`;
  return {
    mode,
    modeReason,
    readTopics: [config.topics.Input, config.topics.Retry],
    outputTopic: spec.sinks.topic.enabled ? config.topics.Output : undefined,
  };
}

/** The task that reads input partition `partition`. */
export function taskId(plan: PipelinePlan, partition: number): string {
  return plan.mode === 'single' ? 'all' : String(partition);
}
