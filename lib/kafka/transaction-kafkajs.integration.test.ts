/**
 * The processor's Kafka parts against a real broker: transactions that commit records and
 * offsets together or not at all, fencing of an earlier owner of a transactional id, the
 * compacted-topic reader, and the group consumer placing partition p of two topics on one
 * member. Everything is checked with a plain kafkajs client, not with the code under test.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import kafkajs from './consumer-kafkajs-fixed.ts';
import { Errors, hasCode } from '../errors/errors.ts';
import { silentLogger } from '../observability/logger.ts';
import { readCompacted } from './consumer-compacted-reader.ts';
import { KafkajsGroupConsumer } from './consumer-kafkajs.ts';
import type { ConsumedBatch, TopicPartitions } from './consumer.ts';
import { KafkajsTransactionalCommitter } from './transaction-kafkajs.ts';

const brokers = [process.env.WEIR_KAFKA_BROKERS ?? ''];
const log = silentLogger();
const kafka = new kafkajs.Kafka({ brokers, clientId: 'weir-test-check', logLevel: kafkajs.logLevel.NOTHING });
const admin = kafka.admin();
const run = randomUUID().slice(0, 8);
const topic = (name: string) => `weir-test.${run}.${name}`;

/** Every committed record of a topic, read with a plain read_committed consumer. */
async function committedValues(name: string, expected: number, timeoutMs = 15_000): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: `check-${randomUUID()}`, readUncommitted: false });
  const values: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: name, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value?.toString() ?? '') });
  const deadline = Date.now() + timeoutMs;
  while (values.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  // A little longer, so that records beyond the expected ones would show.
  await new Promise((r) => setTimeout(r, 1_000));
  await consumer.disconnect();
  return values.sort();
}

before(async () => {
  assert.ok(process.env.WEIR_KAFKA_BROKERS, 'WEIR_KAFKA_BROKERS is not set: run under hack/local-env/cli.ts run');
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: topic('out'), numPartitions: 2 },
      { topic: topic('in'), numPartitions: 4 },
      { topic: topic('retry'), numPartitions: 4 },
      { topic: topic('log'), numPartitions: 2, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    ],
  });
});

after(async () => {
  await admin.deleteTopics({ topics: ['out', 'in', 'retry', 'log'].map(topic) }).catch(() => undefined);
  await admin.disconnect();
});

describe('the transactional committer', () => {
  it('commits records and offsets together, and an aborted transaction leaves neither', async () => {
    const groupId = `g-${run}-commit`;
    const committer = new KafkajsTransactionalCommitter({
      brokers,
      clientId: 't',
      log,
      transactionalId: `tx-${run}-1`,
      groupId,
    });
    await committer.init();
    await committer.commit(
      [{ topic: topic('out'), partition: 0, key: 'k', value: 'one' }],
      [{ topic: topic('in'), partition: 1, offset: '42' }],
    );
    // A transaction that cannot commit (an offset for a topic that does not exist) adds nothing.
    await assert.rejects(
      committer.commit(
        [{ topic: topic('out'), partition: 0, key: 'k', value: 'aborted' }],
        [{ topic: 'weir-test.no-such-topic', partition: 0, offset: '1' }],
      ),
      (err: Error) => hasCode(err, Errors.KafkaRequestFailed),
    );
    await committer.close();
    assert.deepEqual(await committedValues(topic('out'), 1), ['one']);
    const offsets = await admin.fetchOffsets({ groupId, topics: [topic('in')] });
    assert.equal(offsets[0]!.partitions.find((p) => p.partition === 1)?.offset, '42');
  });

  it('fences the earlier owner of its transactional id once initialized', async () => {
    const options = { brokers, clientId: 't', log, transactionalId: `tx-${run}-2`, groupId: `g-${run}-fence` };
    const zombie = new KafkajsTransactionalCommitter(options);
    await zombie.init();
    const owner = new KafkajsTransactionalCommitter(options);
    await owner.init();
    await assert.rejects(zombie.commit([{ topic: topic('out'), partition: 1, key: 'z', value: 'zombie' }], []));
    await owner.commit([{ topic: topic('out'), partition: 1, key: 'o', value: 'owner' }], []);
    await Promise.all([zombie.close(), owner.close()]);
    const values = await committedValues(topic('out'), 2);
    assert.ok(values.includes('owner') && !values.includes('zombie'), JSON.stringify(values));
  });
});

describe('the compacted reader', () => {
  it('returns the last committed value of every key of the partitions asked for, tombstones as null', async () => {
    const committer = new KafkajsTransactionalCommitter({
      brokers,
      clientId: 't',
      log,
      transactionalId: `tx-${run}-3`,
      groupId: `g-${run}-log`,
    });
    await committer.init();
    await committer.commit(
      [
        { topic: topic('log'), partition: 0, key: 'a', value: '1' },
        { topic: topic('log'), partition: 0, key: 'b', value: '1' },
        { topic: topic('log'), partition: 1, key: 'elsewhere', value: '1' },
      ],
      [],
    );
    await committer.commit(
      [
        { topic: topic('log'), partition: 0, key: 'a', value: '2' },
        { topic: topic('log'), partition: 0, key: 'b', value: null },
      ],
      [],
    );
    await assert.rejects(
      committer.commit(
        [{ topic: topic('log'), partition: 0, key: 'a', value: 'aborted' }],
        [{ topic: 'weir-test.no-such-topic', partition: 0, offset: '1' }],
      ),
    );
    await committer.close();
    const state = await readCompacted({
      brokers,
      clientId: 't',
      groupPrefix: `r-${run}`,
      topic: topic('log'),
      partitions: [0],
      log,
    });
    assert.deepEqual(Object.fromEntries([...state.values].map(([k, v]) => [k, v?.toString() ?? null])), {
      a: '2',
      b: null,
    });
  });

  it('returns nothing at once for empty partitions', async () => {
    const state = await readCompacted({
      brokers,
      clientId: 't',
      groupPrefix: `r-${run}`,
      topic: topic('in'),
      partitions: [3],
      log,
    });
    assert.equal(state.values.size, 0);
  });
});

describe('the group consumer', () => {
  it('places partition p of every topic on one member, and spreads partitions over members', async () => {
    const groupId = `g-${run}-members`;
    const assignments = new Map<string, TopicPartitions[]>();
    const consumers = ['a', 'b'].map(
      (id) =>
        [
          id,
          new KafkajsGroupConsumer({
            brokers,
            clientId: id,
            groupId,
            topics: [topic('in'), topic('retry')],
            mode: 'partitioned',
            log,
            concurrency: 2,
          }),
        ] as const,
    );
    for (const [id, c] of consumers)
      await c.start({
        onAssigned: (a) => assignments.set(id, a),
        onBatch: async (_b: ConsumedBatch) => undefined,
        onRestart: () => undefined,
      });
    const deadline = Date.now() + 30_000;
    const settled = () => {
      const parts = [...assignments.values()].map((a) => a.map((t) => t.partitions.length).reduce((x, y) => x + y, 0));
      return assignments.size === 2 && parts.every((n) => n === 4);
    };
    while (!settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await Promise.all(consumers.map(([, c]) => c.stop()));
    assert.ok(settled(), JSON.stringify([...assignments]));
    for (const a of assignments.values()) {
      const byTopic = Object.fromEntries(a.map((t) => [t.topic, [...t.partitions].sort()]));
      assert.deepEqual(byTopic[topic('in')], byTopic[topic('retry')], 'input and retry partitions go together');
      assert.equal(byTopic[topic('in')]!.length, 2);
    }
  });
});
