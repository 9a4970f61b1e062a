/**
 * Plain kafkajs producers and read_committed consumers for tests of Flink jobs: what goes
 * into a pipeline's input topic and what its output and dead-letter topics hold, read with
 * no code of Weir's in between.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs, { type Kafka } from 'kafkajs';
import { createTestTopics } from '../../../lib/kafka/testing/create-topics.ts';

/** One record as a consumer saw it. */
export interface Record {
  value: string;
  headers: { [name: string]: string };
}

export function kafkaClient(): Kafka {
  const brokers = process.env.WEIR_KAFKA_BROKERS;
  assert.ok(brokers, 'WEIR_KAFKA_BROKERS is not set: run under hack/local-env/cli.ts run --with kafka,flink');
  return new kafkajs.Kafka({ clientId: 'weir-flink-test', brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING });
}

export async function createTopics(kafka: Kafka, topics: string[], partitions = 1): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await createTestTopics(
      admin,
      topics.map((topic) => ({ topic, numPartitions: partitions })),
    );
  } finally {
    await admin.disconnect();
  }
}

/** Sends events in order, one request each, so they reach the partition in this order. */
export async function produce(kafka: Kafka, topic: string, events: readonly unknown[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (const event of events)
      await producer.send({
        topic,
        acks: -1,
        messages: [{ value: typeof event === 'string' ? event : JSON.stringify(event) }],
      });
  } finally {
    await producer.disconnect();
  }
}

/**
 * Reads a topic from its start with isolation read_committed until `until` holds for what
 * was read (then a little longer, to catch records that should not be there), or fails.
 */
export async function readUntil(
  kafka: Kafka,
  topic: string,
  until: (records: Record[]) => boolean,
  timeoutMs = 90_000,
): Promise<Record[]> {
  const consumer = kafka.consumer({ groupId: `weir-flink-test-${randomUUID()}`, readUncommitted: false });
  const records: Record[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record['headers'] = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        records.push({ value: message.value?.toString() ?? '', headers });
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (!until(records)) {
      assert.ok(
        Date.now() < deadline,
        `${topic}: condition not met within ${timeoutMs} ms; read ${JSON.stringify(records)}`,
      );
      await sleep(200);
    }
    // Records beyond the expected ones would arrive with the next checkpoint.
    await sleep(1500);
    return records;
  } finally {
    await consumer.disconnect();
  }
}
