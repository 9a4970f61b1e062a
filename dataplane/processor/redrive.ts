/**
 * Re-drives dead letters: after the cause is fixed (a lookup table repaired, a function
 * corrected), sends dead letters back through the pipeline's retry topic, where the
 * processor takes them as if they had just arrived, each with a fresh set of retries.
 *
 *   node dataplane/processor/redrive.ts --config /etc/weir/pipeline.json \
 *     [--reason RetriesExhausted,EnrichmentMiss] [--dry-run]
 *
 * It reads the dead-letter topic from where its previous run stopped (its consumer group
 * is `<pipeline group>.redrive`) to where the topic ends when it starts, and in one Kafka
 * transaction per batch writes the re-driven records and commits its position: every dead
 * letter is re-driven at most once, even if it is stopped midway. Dead letters of other
 * reasons (by default TooLate, InvalidJson, NotAnObject and InvalidEventTime, which would
 * only fail again) are passed over. It prints a JSON summary.
 */
import { parseArgs } from 'node:util';
import { systemClock, type Clock } from '../../lib/clock/clock.ts';
import { KafkajsGroupConsumer } from '../../lib/kafka/consumer-kafkajs.ts';
import kafkajs from '../../lib/kafka/consumer-kafkajs-fixed.ts';
import type { BatchCommitter } from '../../lib/kafka/transaction.ts';
import { KafkajsTransactionalCommitter } from '../../lib/kafka/transaction-kafkajs.ts';
import { createLogger, type Logger } from '../../lib/observability/logger.ts';
import { loadProcessorConfig, type ProcessorConfig } from '../../lib/platform/processor-config.ts';
import { Errors, weirError } from '../../lib/errors/errors.ts';
import { kafkajsSecurity, type KafkaSasl } from '../../lib/kafka/kafka-connection.ts';
import { DeadLetterReason, Header, REDRIVABLE, redriven } from './dead-letters.ts';

/** What a run did. */
export interface RedriveSummary {
  redriven: number;
  passedOver: Record<string, number>;
  dryRun: boolean;
}

export interface RedriveOptions {
  config: ProcessorConfig;
  /** The tenant's Kafka user, where the pipeline's Kafka takes SCRAM credentials. */
  sasl?: KafkaSasl;
  reasons: readonly string[];
  dryRun: boolean;
  log: Logger;
  clock?: Clock;
  /** Gives up after this long; 5 minutes unless given. */
  timeoutMs?: number;
}

/** Reads the dead-letter topic to its current end and re-drives what matches. */
export async function redrive(options: RedriveOptions): Promise<RedriveSummary> {
  const { config, log } = options;
  const clock = options.clock ?? systemClock;
  const dlq = config.topics.DeadLetter;
  const group = `${config.consumerGroup}.redrive`;
  const brokers = config.kafka.bootstrapServers;
  const security = { sasl: options.sasl, tls: config.kafka.tls };
  const clientId = `weir-redrive.${config.pipeline.namespace}.${config.pipeline.name}`;
  const admin = new kafkajs.Kafka({
    brokers,
    clientId,
    ...kafkajsSecurity(security),
    logLevel: kafkajs.logLevel.NOTHING,
  }).admin();
  await admin.connect();
  const [ends, committed] = await Promise.all([
    admin.fetchTopicOffsets(dlq),
    admin.fetchOffsets({ groupId: group, topics: [dlq] }),
  ]).finally(() => admin.disconnect());
  const startOf = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  // A partition counts once it holds a dead letter past where the previous run stopped.
  const remaining = new Map<number, bigint>();
  for (const e of ends) {
    const start = startOf.get(e.partition);
    const from = start !== undefined && start > 0n ? start : 0n;
    if (BigInt(e.high) > from) remaining.set(e.partition, BigInt(e.high));
  }
  const summary: RedriveSummary = { redriven: 0, passedOver: {}, dryRun: options.dryRun };
  if (remaining.size === 0) return summary;
  const committer: BatchCommitter | undefined = options.dryRun
    ? undefined
    : new KafkajsTransactionalCommitter({
        brokers,
        ...security,
        clientId,
        log,
        transactionalId: group,
        groupId: group,
      });
  await committer?.init();
  const consumer = new KafkajsGroupConsumer({
    brokers,
    ...security,
    clientId,
    groupId: group,
    topics: [dlq],
    mode: 'partitioned',
    log,
    concurrency: 1,
  });
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const reasons = new Set(options.reasons);
  try {
    await consumer.start({
      onAssigned: () => undefined,
      onRestart: (err) => fail(err),
      onBatch: async (batch, control) => {
        const end = remaining.get(batch.partition);
        if (end === undefined) return;
        const now = clock.now();
        const out = [];
        for (const r of batch.records) {
          if (BigInt(r.offset) >= end) break;
          const reason = r.headers[Header.reason] ?? 'Unknown';
          if (reasons.has(reason)) out.push(redriven(config.topics.Retry, r, now));
          else summary.passedOver[reason] = (summary.passedOver[reason] ?? 0) + 1;
        }
        const next = BigInt(batch.nextOffset) < end ? batch.nextOffset : String(end);
        try {
          await committer?.commit(out, [{ topic: dlq, partition: batch.partition, offset: next }]);
        } catch (err) {
          fail(err as Error);
          return;
        }
        summary.redriven += out.length;
        control.done(next);
        if (BigInt(next) >= end) remaining.delete(batch.partition);
        if (remaining.size === 0) finish();
      },
    });
    const timeoutMs = options.timeoutMs ?? 300_000;
    const timer = clock.setTimeout(
      () =>
        fail(
          weirError(
            Errors.DeadlineExceeded,
            `the dead-letter topic ${dlq} was not read to its end within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    await done.finally(() => clock.clearTimeout(timer));
  } finally {
    await consumer.stop();
    await committer?.close();
  }
  return summary;
}

async function main(): Promise<number> {
  const log = createLogger({ component: 'weir-redrive', level: process.env.WEIR_LOG_LEVEL || 'warn' });
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', default: process.env.WEIR_PIPELINE_CONFIG },
        reason: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
      },
    }).values;
  } catch (err) {
    log.fatal((err as Error).message);
    return 2;
  }
  if (!args.config) {
    log.fatal('--config (or WEIR_PIPELINE_CONFIG) must name the pipeline configuration (pipeline.json)');
    return 2;
  }
  const reasons = args.reason ? args.reason.split(',').map((r) => r.trim()) : [...REDRIVABLE];
  const unknown = reasons.filter((r) => !Object.values(DeadLetterReason).includes(r as never));
  if (unknown.length) {
    log.fatal(`--reason: unknown ${unknown.join(', ')}; the reasons are ${Object.values(DeadLetterReason).join(', ')}`);
    return 2;
  }
  const config = loadProcessorConfig(args.config);
  // As the processor does: the tenant's own Kafka user, from the environment its Secret gives.
  const { WEIR_KAFKA_USERNAME: username, WEIR_KAFKA_PASSWORD: password } = process.env;
  if (config.kafka.sasl && !(username && password)) {
    log.fatal(
      `the pipeline's Kafka takes ${config.kafka.sasl.mechanism} credentials: set WEIR_KAFKA_USERNAME and WEIR_KAFKA_PASSWORD`,
    );
    return 2;
  }
  const sasl = config.kafka.sasl && {
    mechanism: config.kafka.sasl.mechanism,
    username: username!,
    password: password!,
  };
  const summary = await redrive({ config, sasl, reasons, dryRun: args['dry-run'], log });
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}

if (import.meta.main) {
  // kafkajs 2.2.4 sets a negative timeout, which Node 24 warns about on stderr.
  process.removeAllListeners('warning');
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      createLogger({ component: 'weir-redrive' }).fatal({ err: { message: err.message } }, 're-drive failed');
      process.exit(1);
    },
  );
}
