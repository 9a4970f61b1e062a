/**
 * What every {@link RecordSender}, under Weir's {@link EventProducer}, must do, as
 * integration tests against a real Kafka broker: each implementation's
 * `producer-*.integration.test.ts` registers them for its own class. Run them under
 * `node hack/local-env/cli.ts run --with kafka -- node --test <test file>`.
 *
 * What was written is read back with a plain kafkajs consumer, and whether the writes were
 * idempotent is asked of the broker (DescribeProducers), not of the code under test. The
 * last case stops and starts the broker.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ConnectionPool, describeProducersV0, parseBroker } from '@platformatic/kafka';
import kafkajs from 'kafkajs';
import { startComponent, stopComponent } from '../../../hack/local-env/control-client.ts';
import { systemClock } from '../../clock/clock.ts';
import { Errors } from '../../errors/errors.ts';
import { silentLogger } from '../../observability/logger.ts';
import type { KafkaConnection } from '../kafka-connection.ts';
import { EventProducer, type ProducerRecord, type RecordSender } from '../producer.ts';
import { createTestTopics } from './create-topics.ts';

const { Kafka, logLevel } = kafkajs;

/** The brokers of the local environment, from WEIR_KAFKA_BROKERS. */
export const brokers = process.env.WEIR_KAFKA_BROKERS ? process.env.WEIR_KAFKA_BROKERS.split(',') : [];

/** How the contract makes the implementation under test. */
export interface ProducerContract {
  name: string;
  connect(options: { brokers: string[]; clientId: string; security?: Pick<KafkaConnection, 'sasl'> }): RecordSender;
}

/** Kafka's murmur2 (the Java client's `Utils.murmur2`), written out here so that partitions are checked independently. */
export function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ data.length) | 0;
  const length4 = data.length & ~3;
  for (let i = 0; i < length4; i += 4) {
    let k = data.readInt32LE(i);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = data.length & 3;
  if (rest === 3) h ^= data[length4 + 2]! << 16;
  if (rest >= 2) h ^= data[length4 + 1]! << 8;
  if (rest >= 1) {
    h ^= data[length4]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h;
}

/** The partition Kafka's Java client picks for a key. */
export function javaPartition(key: Buffer, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

interface Seen {
  partition: number;
  key: string;
  value: string;
  headers: Record<string, string>;
}

/** Everything in a topic, read from the beginning by a plain kafkajs consumer until `count` records arrived. */
export async function readTopic(topic: string, count: number, timeoutMs = 30_000): Promise<Seen[]> {
  const kafka = new Kafka({ brokers, clientId: 'weir-test-reader', logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `weir-test-${randomBytes(4).toString('hex')}` });
  const seen: Seen[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = Promise.withResolvers<void>();
    const timer = setTimeout(done.resolve, timeoutMs);
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push({
          partition,
          key: message.key?.toString() ?? '',
          value: message.value?.toString() ?? '',
          headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
        });
        if (seen.length >= count) done.resolve();
      },
    });
    await done.promise;
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

/** Registers the contract's cases for one implementation. */
export function producerContract(contract: ProducerContract): void {
  // Without its real server this test fails rather than skips: a skip would read as a pass.
  assert.ok(brokers.length > 0, 'WEIR_KAFKA_BROKERS is not set: run under hack/local-env/cli.ts run --with kafka');
  const run = randomBytes(3).toString('hex');
  const topic = (name: string) => `weir.it-${run}.${name}`;
  const admin = new Kafka({ brokers, clientId: 'weir-test-admin', logLevel: logLevel.NOTHING }).admin();
  const record = (t: string, key: string, value: string, headers: Record<string, string> = {}): ProducerRecord => ({
    topic: t,
    key: Buffer.from(key),
    value: Buffer.from(value),
    headers,
  });

  describe(contract.name, () => {
    let producer: EventProducer;
    const batches: number[] = [];

    before(async () => {
      await admin.connect();
      await createTestTopics(
        admin,
        ['basic', 'keys', 'concurrent', 'outage', 'scram'].map((name) => ({ topic: topic(name), numPartitions: 6 })),
      );
      producer = new EventProducer({
        sender: contract.connect({ brokers, clientId: `weir-test-${run}` }),
        clock: systemClock,
        log: silentLogger(),
        onBatch: (records) => batches.push(records),
      });
      await producer.connect();
    });
    after(async () => {
      await producer.close();
      await admin.deleteTopics({ topics: ['basic', 'keys', 'concurrent', 'outage'].map(topic) }).catch(() => undefined);
      await admin.disconnect();
    });

    it('writes each record with its key, value and headers, and resolves only once Kafka acknowledged it', async () => {
      await producer.send([
        record(topic('basic'), 'acme', '{"n":1}', { 'weir-tenant': 'acme', traceparent: '00-abc-def-01' }),
      ]);
      const [seen] = await readTopic(topic('basic'), 1);
      assert.deepEqual(
        { key: seen?.key, value: seen?.value, headers: seen?.headers },
        { key: 'acme', value: '{"n":1}', headers: { 'weir-tenant': 'acme', traceparent: '00-abc-def-01' } },
      );
    });

    it("puts each key on the partition Kafka's Java client would, and keeps one key's records in order", async () => {
      const keys = Array.from({ length: 40 }, (_, i) => `device-${i}`);
      for (let round = 0; round < 3; round++)
        await producer.send(keys.map((k) => record(topic('keys'), k, `${k}#${round}`)));
      const seen = await readTopic(topic('keys'), keys.length * 3);
      assert.equal(seen.length, keys.length * 3);
      for (const s of seen) assert.equal(s.partition, javaPartition(Buffer.from(s.key), 6), `key ${s.key}`);
      for (const k of keys)
        assert.deepEqual(
          seen.filter((s) => s.key === k).map((s) => s.value),
          [0, 1, 2].map((r) => `${k}#${r}`),
        );
    });

    it('batches the records of concurrent callers into few requests, and writes each exactly once', async () => {
      batches.length = 0;
      const n = 2_000;
      await Promise.all(
        Array.from({ length: n }, (_, i) => producer.send([record(topic('concurrent'), `k${i % 50}`, `event-${i}`)])),
      );
      const seen = await readTopic(topic('concurrent'), n);
      assert.equal(seen.length, n);
      assert.equal(new Set(seen.map((s) => s.value)).size, n);
      assert.ok(batches.length < n / 10, `${n} records took ${batches.length} requests`);
    });

    it('writes as an idempotent producer: the broker tracks its producer id and sequence numbers', async () => {
      const pool = new ConnectionPool('weir-test-describe', { connectTimeout: 2_000, requestTimeout: 5_000 });
      try {
        const connection = await pool.getFirstAvailable(brokers.map((b) => parseBroker(b)));
        const response = await describeProducersV0.api.async(connection, [
          { name: topic('concurrent'), partitionIndexes: [0, 1, 2, 3, 4, 5] },
        ]);
        const producers = response.topics[0]!.partitions.flatMap((p) => p.activeProducers);
        assert.ok(
          producers.length > 0,
          JSON.stringify(response, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
        );
        assert.ok(producers.every((p) => p.producerId >= 0n && p.lastSequence >= 0));
        // One producer id for all of them: one producer, not one per caller.
        assert.equal(new Set(producers.map((p) => String(p.producerId))).size, 1);
      } finally {
        await pool.close();
      }
    });

    it('connects as a SCRAM user over the SASL listener, and not with a wrong password', async () => {
      const saslBrokers = (process.env.WEIR_KAFKA_SASL_BROKERS ?? '').split(',').filter(Boolean);
      assert.ok(saslBrokers.length > 0, 'WEIR_KAFKA_SASL_BROKERS is not set');
      const user = (password: string) => ({
        mechanism: 'SCRAM-SHA-512' as const,
        username: process.env.WEIR_KAFKA_ADMIN_USER!,
        password,
      });
      const scram = new EventProducer({
        sender: contract.connect({
          brokers: saslBrokers,
          clientId: `weir-test-scram-${run}`,
          security: { sasl: user(process.env.WEIR_KAFKA_ADMIN_PASSWORD!) },
        }),
        clock: systemClock,
        log: silentLogger(),
      });
      await scram.connect();
      try {
        await scram.send([record(topic('scram'), 'k', 'over-sasl')]);
      } finally {
        await scram.close();
      }
      assert.deepEqual(
        (await readTopic(topic('scram'), 1)).map((s) => s.value),
        ['over-sasl'],
      );
      const wrong = contract.connect({
        brokers: saslBrokers,
        clientId: `weir-test-wrong-${run}`,
        security: { sasl: user('not-the-password') },
      });
      const refused = new EventProducer({ sender: wrong, clock: systemClock, log: silentLogger() });
      await assert.rejects(async () => {
        await refused.connect();
        await refused.send([record(topic('scram'), 'k', 'must-not-arrive')]);
      });
      await refused.close().catch(() => undefined);
    });

    it('refuses at once with KafkaUnavailable while Kafka is down, and writes again once it is back, each acknowledged record once', async () => {
      const acknowledged: string[] = [];
      const attempt = async (i: number) => {
        try {
          await producer.send([record(topic('outage'), `k${i % 7}`, `event-${i}`)]);
          acknowledged.push(`event-${i}`);
          return 'ok';
        } catch (err) {
          assert.ok(
            [Errors.KafkaUnavailable.code].includes((err as { code?: string }).code ?? ''),
            (err as Error).message,
          );
          return 'refused';
        }
      };
      for (let i = 0; i < 20; i++) await attempt(i);
      await stopComponent('kafka');
      let refused = 0;
      try {
        // The first batch finds out (within the sender's retries); the ones after it are refused at once.
        for (let i = 20; i < 60; i++) if ((await attempt(i)) === 'refused') refused++;
        assert.equal(producer.available, false);
      } finally {
        await startComponent('kafka');
      }
      assert.ok(refused >= 35, `only ${refused} of 40 refused while Kafka was down`);
      let next = 60;
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        if ((await attempt(next++)) === 'ok' && producer.available) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(producer.available, true);
      for (let i = 0; i < 20; i++) await attempt(next++);
      const seen = await readTopic(topic('outage'), acknowledged.length, 20_000);
      const values = seen.map((s) => s.value);
      for (const v of acknowledged) assert.equal(values.filter((x) => x === v).length, 1, `${v} in the topic`);
    });
  });
}
