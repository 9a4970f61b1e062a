/** The processor's Prometheus metrics, on the process's registry. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Every metric the processor exports, created once per process. */
export function processorMetrics(registry: Registry, labels: { pipeline: string; consumerGroup: string }) {
  const registers = [registry];
  new Gauge({
    name: 'weir_processor_info',
    help: 'The pipeline this processor serves.',
    labelNames: ['pipeline', 'consumer_group'],
    registers,
  })
    .labels(labels.pipeline, labels.consumerGroup)
    .set(1);
  return {
    ready: new Gauge({ name: 'weir_processor_ready', help: '1 while the processor takes work.', registers }),
    checks: new Counter({
      name: 'weir_processor_kafka_checks_total',
      help: "Checks of Kafka and the pipeline's topics, by result.",
      labelNames: ['result'],
      registers,
    }),
    records: new Counter({
      name: 'weir_processor_records_total',
      help: 'Records read, by topic (input or retry).',
      labelNames: ['topic'],
      registers,
    }),
    events: new Counter({
      name: 'weir_processor_events_total',
      help: 'Events given to an aggregation, by what became of them: onTime, late (corrected a closed window), tooLate (dead-lettered) or rejected (dead-lettered).',
      labelNames: ['aggregation', 'outcome'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'weir_processor_dead_letters_total',
      help: 'Records written to the dead-letter topic, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    retries: new Counter({ name: 'weir_processor_retries_total', help: 'Records sent to the retry topic.', registers }),
    transactions: new Counter({
      name: 'weir_processor_transactions_total',
      help: 'Kafka transactions (or at-least-once commits), by result.',
      labelNames: ['result'],
      registers,
    }),
    commitSeconds: new Histogram({
      name: 'weir_processor_commit_seconds',
      help: 'Time to commit one batch to Kafka.',
      buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    outputs: new Counter({
      name: 'weir_processor_kafka_records_written_total',
      help: 'Records written to Kafka: results, changelog, dead letters and retries.',
      registers,
    }),
    sinkFailures: new Counter({
      name: 'weir_processor_sink_failures_total',
      help: 'Failed writes of results, by sink; each is retried.',
      labelNames: ['sink'],
      registers,
    }),
    restoreSeconds: new Histogram({
      name: 'weir_processor_restore_seconds',
      help: 'Time to take a task over: fencing its previous owner and reading its changelog.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    restoredKeys: new Counter({
      name: 'weir_processor_restored_keys_total',
      help: 'State keys restored from the changelog.',
      registers,
    }),
    windows: new Gauge({
      name: 'weir_processor_windows',
      help: 'Windows (sessions, for session windows) held in memory, by aggregation and task.',
      labelNames: ['aggregation', 'task'],
      registers,
    }),
    tasks: new Gauge({ name: 'weir_processor_tasks', help: 'Tasks this replica runs.', registers }),
    lag: new Gauge({
      name: 'weir_consumer_lag',
      help: 'Records between the committed position and the end of a partition, as of the last batch.',
      labelNames: ['topic', 'partition'],
      registers,
    }),
    restarts: new Counter({
      name: 'weir_processor_restarts_total',
      help: 'Times the consumer was restarted after a failure, from the committed state.',
      registers,
    }),
  };
}

export type ProcessorMetrics = ReturnType<typeof processorMetrics>;
