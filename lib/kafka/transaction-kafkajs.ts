/**
 * {@link BatchCommitter}s on kafkajs 2.2.4: one Kafka transaction per batch (exactly once),
 * or an idempotent send followed by an offset commit (at least once).
 *
 * kafkajs's TxnOffsetCommit is version 1, without the group generation of KIP-447, so a
 * producer that lost its partitions cannot be fenced by the group. Each task therefore has
 * a transactional id of its own (`<group>.task-<partition>`), and the member that takes a
 * task over calls {@link KafkajsTransactionalCommitter.init} before it reads anything:
 * Kafka then aborts the old owner's open transaction and refuses its later ones.
 */
import type { Producer, Transaction } from 'kafkajs';
import kafkajs from './consumer-kafkajs-read-committed.ts';
import { Errors, weirError } from '../errors/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { GroupConsumer, OffsetCommit } from './consumer.ts';
import { kafkajsClient } from './consumer-kafkajs.ts';
import type { BatchCommitter, OutgoingRecord } from './transaction.ts';

const { Partitioners } = kafkajs;

function topicMessages(records: OutgoingRecord[]) {
  const byTopic = new Map<
    string,
    {
      key: string | Buffer | null;
      value: string | Buffer | null;
      partition?: number;
      headers?: Record<string, string>;
    }[]
  >();
  for (const r of records) {
    const list = byTopic.get(r.topic) ?? [];
    list.push({ key: r.key, value: r.value, partition: r.partition, headers: r.headers });
    byTopic.set(r.topic, list);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

function offsetTopics(offsets: OffsetCommit[]) {
  const byTopic = new Map<string, { partition: number; offset: string }[]>();
  for (const o of offsets)
    byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), { partition: o.partition, offset: o.offset }]);
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

/** Options shared by both committers. */
export interface KafkajsCommitterOptions {
  brokers: string[];
  clientId: string;
  log: Logger;
}

/** Exactly once: records and offsets in one transaction under a transactional id of its own. */
export class KafkajsTransactionalCommitter implements BatchCommitter {
  readonly #producer: Producer;
  readonly #groupId: string;
  readonly #transactionalId: string;

  constructor(options: KafkajsCommitterOptions & { transactionalId: string; groupId: string }) {
    this.#groupId = options.groupId;
    this.#transactionalId = options.transactionalId;
    this.#producer = kafkajsClient(options).producer({
      transactionalId: options.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 60_000,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  async init(): Promise<void> {
    await this.#producer.connect();
    // kafkajs asks for the producer id, and so fences the id's earlier owner, when the first transaction begins.
    const fence = await this.#producer.transaction();
    await fence.abort();
  }

  async commit(records: OutgoingRecord[], offsets: OffsetCommit[]): Promise<void> {
    let txn: Transaction | undefined;
    try {
      txn = await this.#producer.transaction();
      if (records.length) await txn.sendBatch({ topicMessages: topicMessages(records), acks: -1 });
      if (offsets.length) await txn.sendOffsets({ consumerGroupId: this.#groupId, topics: offsetTopics(offsets) });
      await txn.commit();
    } catch (err) {
      await txn?.abort().catch(() => undefined);
      throw weirError(
        Errors.KafkaRequestFailed,
        `transaction ${this.#transactionalId} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {
    await this.#producer.disconnect();
  }
}

/** At least once: an idempotent send, then the offsets committed by the consumer. A crash in between repeats the batch. */
export class KafkajsAtLeastOnceCommitter implements BatchCommitter {
  readonly #producer: Producer;
  readonly #consumer: GroupConsumer;

  constructor(options: KafkajsCommitterOptions & { consumer: GroupConsumer }) {
    this.#consumer = options.consumer;
    this.#producer = kafkajsClient(options).producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  async init(): Promise<void> {
    await this.#producer.connect();
  }

  async commit(records: OutgoingRecord[], offsets: OffsetCommit[]): Promise<void> {
    try {
      if (records.length) await this.#producer.sendBatch({ topicMessages: topicMessages(records), acks: -1 });
      await this.#consumer.commit(offsets);
    } catch (err) {
      throw weirError(Errors.KafkaRequestFailed, `committing a batch failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async close(): Promise<void> {
    await this.#producer.disconnect();
  }
}
