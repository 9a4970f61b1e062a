/**
 * The processor's consumer and its tasks: joins the pipeline's consumer group on the input
 * and retry topics, keeps one {@link Task} per assigned task (partition, or all of them in
 * single mode), hands every batch to its task, moves idle watermarks on a timer, and holds
 * retry partitions until their records are due.
 *
 * When anything fails — a transaction, a sink past its retries, the consumer itself — the
 * runtime does what a crash would: it drops every task and rejoins from the committed state,
 * with backoff. Since a task commits its state, outputs and offsets together, nothing done
 * is lost by dropping it, and nothing half done survives.
 */
import type { Clock } from '../../lib/clock/clock.ts';
import { readCompacted } from '../../lib/kafka/consumer-compacted-reader.ts';
import { KafkajsGroupConsumer } from '../../lib/kafka/consumer-kafkajs.ts';
import type { BatchControl, ConsumedBatch, GroupConsumer, TopicPartitions } from '../../lib/kafka/consumer.ts';
import { KafkajsAtLeastOnceCommitter, KafkajsTransactionalCommitter } from '../../lib/kafka/transaction-kafkajs.ts';
import type { TimerHandle } from '../../lib/clock/clock.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import type { ProcessorConfig } from '../../lib/platform/processor-config.ts';
import { AggregationEngine } from './engine/aggregation-engine.ts';
import type { FunctionSandbox } from './engine/function-sandbox.ts';
import type { Enricher } from './enrichment/enricher.ts';
import { taskId, type PipelinePlan } from './pipeline-plan.ts';
import type { ProcessorMetrics } from './processor-metrics.ts';
import { Task, type ResultSink } from './task.ts';
import type { KafkaConnection } from '../../lib/kafka/kafka-connection.ts';

/** Exactly once (transactions) or at least once (send, then commit offsets), for comparison. */
export type Delivery = 'exactly-once' | 'at-least-once';

export interface ProcessorRuntimeOptions {
  config: ProcessorConfig;
  /** Brokers and the tenant's credentials every Kafka client of the runtime connects with. */
  kafka: KafkaConnection;
  plan: PipelinePlan;
  delivery: Delivery;
  clock: Clock;
  log: Logger;
  metrics: ProcessorMetrics;
  sinks: ResultSink[];
  enricher: Enricher;
  mask: (event: Record<string, unknown>) => void;
  functions: ReadonlyMap<string, FunctionSandbox>;
  /** Partitions worked on at once; 8 unless given. */
  concurrency?: number;
  /** How often idle watermarks move; 1 s unless given. */
  tickIntervalMs?: number;
  /** Names this replica in Kafka's client ids. */
  clientId: string;
  /** Least time between two current results of an open window; {@link RESULT_INTERVAL_MS} unless given. */
  resultIntervalMs?: number;
}

/** An open window's current result goes to Redis at most once a second; closed windows' results go at once. */
export const RESULT_INTERVAL_MS = 1_000;

export class ProcessorRuntime {
  readonly #o: ProcessorRuntimeOptions;
  #consumer: GroupConsumer | undefined;
  #tasks = new Map<string, Task>();
  #joined = false;
  #stopping = false;
  #restarting: Promise<void> | undefined;
  #failures = 0;
  #ticker: TimerHandle | undefined;
  #holds = new Map<number, TimerHandle>();

  constructor(options: ProcessorRuntimeOptions) {
    this.#o = options;
  }

  /** Joined the group, every task restored, no restart pending. */
  get ready(): boolean {
    return this.#joined && !this.#restarting && [...this.#tasks.values()].every((t) => t.restored && !t.failed);
  }

  /** The tasks this replica runs now, by id. */
  get tasks(): string[] {
    return [...this.#tasks.keys()];
  }

  async start(): Promise<void> {
    this.#stopping = false;
    await this.#startConsumer();
    this.#scheduleTick();
  }

  /** Leaves the group after the batches in hand are committed, then closes every task. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#ticker) this.#o.clock.clearTimeout(this.#ticker);
    for (const t of this.#holds.values()) this.#o.clock.clearTimeout(t);
    this.#holds.clear();
    await this.#restarting?.catch(() => undefined);
    await this.#consumer?.stop();
    this.#consumer = undefined;
    await this.#closeTasks([...this.#tasks.keys()]);
  }

  async #startConsumer(): Promise<void> {
    const { config, plan } = this.#o;
    const consumer = new KafkajsGroupConsumer({
      ...this.#o.kafka,
      clientId: this.#o.clientId,
      groupId: config.consumerGroup,
      topics: plan.readTopics,
      mode: plan.mode,
      log: this.#o.log,
      concurrency: this.#o.concurrency ?? 8,
    });
    this.#consumer = consumer;
    this.#joined = false;
    await consumer.start({
      onAssigned: (assignment) => this.#assigned(assignment, consumer),
      onBatch: (batch, control) => this.#batch(batch, control),
      onRestart: (error) => {
        this.#o.log.warn({ err: { message: error.message } }, 'the consumer restarts; its tasks are dropped');
        this.#joined = false;
        void this.#closeTasks([...this.#tasks.keys()]);
      },
    });
  }

  #assigned(assignment: TopicPartitions[], consumer: GroupConsumer): void {
    const input = assignment.find((a) => a.topic === this.#o.config.topics.Input)?.partitions ?? [];
    const wanted = new Map<string, number[]>();
    for (const p of [...input].sort((a, b) => a - b)) {
      const id = taskId(this.#o.plan, p);
      wanted.set(id, [...(wanted.get(id) ?? []), p]);
    }
    const stale = [...this.#tasks]
      .filter(([id, t]) => wanted.get(id)?.join() !== t.partitions.join())
      .map(([id]) => id);
    void this.#closeTasks(stale);
    for (const [id, partitions] of wanted)
      if (!this.#tasks.has(id)) this.#tasks.set(id, this.#newTask(id, partitions, consumer));
    this.#joined = true;
    this.#o.metrics.tasks.set(this.#tasks.size);
    this.#o.log.info({ tasks: [...wanted.keys()], mode: this.#o.plan.mode }, 'partitions assigned');
  }

  #newTask(id: string, partitions: number[], consumer: GroupConsumer): Task {
    const { config, plan, log } = this.#o;
    const { brokers, sasl, tls } = this.#o.kafka;
    const clientId = `${this.#o.clientId}.task-${id}`;
    const committer =
      this.#o.delivery === 'exactly-once'
        ? new KafkajsTransactionalCommitter({
            brokers,
            sasl,
            tls,
            clientId,
            log,
            transactionalId: `${config.consumerGroup}.task-${id}`,
            groupId: config.consumerGroup,
          })
        : new KafkajsAtLeastOnceCommitter({ brokers, sasl, tls, clientId, log, consumer });
    // Single mode keeps all state in changelog partition 0, so that a key never moves between partitions.
    const changelogPartition = plan.mode === 'single' ? 0 : partitions[0]!;
    return new Task({
      id,
      partitions,
      config,
      committer,
      readChangelog: async () =>
        (
          await readCompacted({
            brokers,
            sasl,
            tls,
            clientId,
            groupPrefix: config.consumerGroup,
            topic: config.topics.Changelog,
            partitions: [changelogPartition],
            log,
          })
        ).values,
      changelogPartition: () => changelogPartition,
      engine: new AggregationEngine({
        aggregations: config.spec.aggregate ?? [],
        functions: this.#o.functions,
        clock: this.#o.clock,
        partitions,
      }),
      sinks: this.#o.sinks,
      enricher: this.#o.enricher,
      mask: this.#o.mask,
      clock: this.#o.clock,
      log: log.child({ task: id }),
      metrics: this.#o.metrics,
      holdRetries: (partition, untilMs) => this.#hold(partition, untilMs),
    });
  }

  async #batch(batch: ConsumedBatch, control: BatchControl): Promise<void> {
    if (this.#stopping || this.#restarting) return;
    const task = this.#tasks.get(taskId(this.#o.plan, batch.partition));
    // Not this replica's (an assignment in flight): left unresolved, so it is fetched again.
    if (!task) return;
    try {
      await task.processBatch(batch, control);
      this.#failures = 0;
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  #hold(partition: number, untilMs: number): void {
    const topic = this.#o.config.topics.Retry;
    this.#consumer?.pause(topic, partition);
    const existing = this.#holds.get(partition);
    if (existing) this.#o.clock.clearTimeout(existing);
    this.#holds.set(
      partition,
      this.#o.clock.setTimeout(() => {
        this.#holds.delete(partition);
        this.#consumer?.resume(topic, partition);
      }, untilMs - this.#o.clock.now()),
    );
  }

  #scheduleTick(): void {
    if (this.#stopping) return;
    this.#ticker = this.#o.clock.setTimeout(async () => {
      await Promise.all(
        [...this.#tasks.values()]
          .filter((t) => t.restored && !t.failed)
          .map((t) => t.tick().catch((err: Error) => this.#fail(err))),
      );
      this.#scheduleTick();
    }, this.#o.tickIntervalMs ?? 1_000);
  }

  /** Drops every task and rejoins from the committed state, after a backoff that grows with repeated failures. */
  #fail(err: Error): void {
    if (this.#stopping || this.#restarting) return;
    this.#o.log.error({ err: { message: err.message } }, 'processing failed; restarting from the committed state');
    this.#restarting = (async () => {
      for (;;) {
        this.#failures++;
        this.#o.metrics.restarts.inc();
        const delay = Math.min(30_000, 500 * 2 ** Math.min(this.#failures - 1, 6));
        try {
          await this.#consumer?.stop().catch(() => undefined);
          this.#consumer = undefined;
          await this.#closeTasks([...this.#tasks.keys()]);
          await this.#o.clock.sleep(delay);
          if (!this.#stopping) await this.#startConsumer();
          return;
        } catch (e) {
          this.#o.log.error({ err: { message: (e as Error).message } }, 'restarting the consumer failed; trying again');
        }
      }
    })().finally(() => {
      this.#restarting = undefined;
    });
  }

  async #closeTasks(ids: string[]): Promise<void> {
    const tasks = ids.map((id) => this.#tasks.get(id)).filter((t): t is Task => t !== undefined);
    for (const id of ids) this.#tasks.delete(id);
    this.#o.metrics.tasks.set(this.#tasks.size);
    await Promise.all(tasks.map((t) => t.close()));
  }
}
