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
import kafkajs from './consumer-kafkajs-fixed.ts';
import { Errors, weirError } from '../errors/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { GroupConsumer, OffsetCommit } from './consumer.ts';
import { kafkajsClient } from './consumer-kafkajs.ts';
import type { BatchCommitter, OutgoingRecord } from './transaction.ts';
import type { KafkaSasl } from './kafka-connection.ts';

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

/** Bytes a record takes in a request, roughly. */
function sizeOf(r: OutgoingRecord): number {
  let size = 32 + (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const k in r.headers) size += k.length + r.headers[k]!.length + 8;
  return size;
}

/**
 * The records in sends small enough for the broker: kafkajs puts a send's records for one
 * partition in one record batch, which Kafka refuses beyond max.message.bytes (1 MiB by
 * default). A batch's results and changelog can exceed that; several sends in one
 * transaction cannot.
 */
export function sendChunks(records: OutgoingRecord[], maxBytes = 512 * 1024): OutgoingRecord[][] {
  const chunks: OutgoingRecord[][] = [];
  let current: OutgoingRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = sizeOf(r);
    if (current.length && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += size;
  }
  if (current.length) chunks.push(current);
  return chunks;
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
  sasl?: KafkaSasl;
  tls?: boolean;
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
      // A transaction begun right after the last one committed is refused with
      // CONCURRENT_TRANSACTIONS until the broker has written the last one's markers, a few
      // milliseconds. With kafkajs's usual backoff (from 200 ms, doubling) every commit
      // waited about a second; retried every few milliseconds instead.
      retry: { retries: 30, initialRetryTime: 5, maxRetryTime: 1_000, factor: 0.2, multiplier: 1.5 },
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
      for (const chunk of sendChunks(records)) await txn.sendBatch({ topicMessages: topicMessages(chunk), acks: -1 });
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
      for (const chunk of sendChunks(records))
        await this.#producer.sendBatch({ topicMessages: topicMessages(chunk), acks: -1 });
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
