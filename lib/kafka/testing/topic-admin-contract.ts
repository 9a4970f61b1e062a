/**
 * What every {@link TopicAdmin} must do, as integration tests against a real Kafka broker in
 * KRaft mode: each implementation's `*.integration.test.ts` registers them for its own class,
 * so that they all pass the same cases. Run them under
 * `node hack/local-env/cli.ts run --with kafka -- node --test <test file>`.
 * What the adapter did is checked with a separate plain kafkajs admin client, not through the
 * adapter; the last case stops and starts the broker.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { Errors } from '../../errors/errors.ts';
import { startComponent, stopComponent } from '../../../hack/local-env/control-client.ts';
import { planTopicChanges, TOPIC_ID, type TopicAdmin, type TopicSpec } from '../topic-admin.ts';

const { ConfigResourceTypes, ConfigSource, Kafka, logLevel } = kafkajs;

/** The brokers of the local environment, from WEIR_KAFKA_BROKERS. */
export const brokers = process.env.WEIR_KAFKA_BROKERS ? process.env.WEIR_KAFKA_BROKERS.split(',') : [];

/** How the contract makes the implementation under test. */
export interface TopicAdminContract {
  /** The suite's name: the implementation's class. */
  name: string;
  /** A new instance on these brokers. */
  connect(options: { brokers: string[]; requestTimeoutMs?: number }): TopicAdmin;
  /** Whether describe reports Kafka's topic ids (kafkajs cannot read them). */
  reportsTopicIds: boolean;
}

/** A plain kafkajs admin client, independent of the adapters under test. */
function independentAdmin() {
  return new Kafka({ brokers, clientId: 'weir-test', logLevel: logLevel.NOTHING }).admin();
}

/** A topic as a plain kafkajs admin client sees it, or undefined if there is no such topic. */
export async function inspect(name: string) {
  const admin = independentAdmin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [name] }).catch((err: { type?: string }) => {
      if (err.type === 'UNKNOWN_TOPIC_OR_PARTITION') return { topics: [] };
      throw err;
    });
    const topic = topics[0];
    if (!topic) return undefined;
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name }],
    });
    const config = Object.fromEntries(
      resources[0]!.configEntries.map((e) => [e.configName, { value: e.configValue, source: e.configSource }]),
    );
    return {
      partitions: topic.partitions.length,
      replicas: topic.partitions.map((p) => p.replicas.length),
      leaders: topic.partitions.map((p) => p.leader),
      config,
    };
  } finally {
    await admin.disconnect();
  }
}

/** Replaces a topic's configs the way a person with kafka-configs.sh might, behind Weir's back. */
async function setConfigsBehindTheBack(name: string, config: Record<string, string>): Promise<void> {
  const admin = independentAdmin();
  await admin.connect();
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name,
          configEntries: Object.entries(config).map(([k, value]) => ({ name: k, value })),
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

const setOnTopic = (value: string) => ({ value, source: ConfigSource.TOPIC_CONFIG });

/** Registers the contract's test cases for one implementation. */
export function topicAdminContract(contract: TopicAdminContract): void {
  // Without its real server this test fails rather than skips: a skip would read as a pass.
  assert.ok(brokers.length > 0, 'WEIR_KAFKA_BROKERS is not set: run under hack/local-env/cli.ts run --with kafka');
  const run = randomBytes(3).toString('hex');
  const topicName = (role: string) => `weir.it-${run}.${role}`;
  const spec = (role: string, changes: Partial<TopicSpec> = {}): TopicSpec => ({
    name: topicName(role),
    partitions: 3,
    replicationFactor: 1,
    config: { 'retention.ms': '3600000', 'cleanup.policy': 'compact' },
    ...changes,
  });

  describe(contract.name, () => {
    let topics: TopicAdmin;

    before(async () => {
      topics = contract.connect({ brokers });
      await topics.create([spec('input')]);
    });
    after(async () => {
      const admin = independentAdmin();
      // The last case restarts the broker: right after it, a delete may still meet leaders
      // being elected again, so the clean-up tries for a while before it fails the suite.
      for (let attempt = 1; ; attempt++) {
        try {
          const mine = (await admin.listTopics()).filter((name) => name.startsWith(`weir.it-${run}.`));
          await topics.deleteTopics(mine);
          break;
        } catch (err) {
          if (attempt >= 15) throw err;
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      }
      await Promise.all([topics.close(), admin.disconnect()]);
    });

    it('creates a topic with its partitions, replication factor and configs, and waits for its leaders', async () => {
      const seen = await inspect(topicName('input'));
      assert.ok(seen);
      assert.equal(seen.partitions, 3);
      assert.deepEqual(seen.replicas, [1, 1, 1]);
      assert.ok(
        seen.leaders.every((leader) => leader >= 0),
        `leaders ${seen.leaders}`,
      );
      assert.deepEqual(seen.config['retention.ms'], setOnTopic('3600000'));
      assert.deepEqual(seen.config['cleanup.policy'], setOnTopic('compact'));
    });

    it('treats creating an existing topic as done and leaves the topic as it is', async () => {
      await topics.create([spec('input', { partitions: 5, config: { 'retention.ms': '1000' } })]);
      const seen = await inspect(topicName('input'));
      assert.equal(seen?.partitions, 3);
      assert.deepEqual(seen?.config['retention.ms'], setOnTopic('3600000'));
    });

    it('creates the missing topics of a batch in which others exist already', async () => {
      await topics.create([spec('input'), spec('output', { partitions: 2, config: {} })]);
      assert.equal((await inspect(topicName('output')))?.partitions, 2);
    });

    it('creates each topic of a batch with its own configs', async () => {
      // A pipeline's dead-letter topic keeps its records longer than its other topics.
      await topics.create([
        spec('batch-a', { config: { 'retention.ms': '3600000' } }),
        spec('batch-b', { config: { 'retention.ms': '14400000', 'cleanup.policy': 'delete' } }),
      ]);
      const [a, b] = await Promise.all([inspect(topicName('batch-a')), inspect(topicName('batch-b'))]);
      assert.deepEqual(a?.config['retention.ms'], setOnTopic('3600000'));
      assert.equal(a?.config['cleanup.policy']?.source, ConfigSource.DEFAULT_CONFIG);
      assert.deepEqual(b?.config['retention.ms'], setOnTopic('14400000'));
      assert.deepEqual(b?.config['cleanup.policy'], setOnTopic('delete'));
    });

    it('describes the topics that exist with only the configs set on them, and leaves out missing ones', async () => {
      const found = await topics.describe([topicName('input'), topicName('never'), topicName('output')]);
      assert.deepEqual([...found.keys()].sort(), [topicName('input'), topicName('output')]);
      const { topicId, ...input } = found.get(topicName('input'))!;
      // The broker's own settings (min.insync.replicas, flush.messages here) are not the topic's.
      assert.deepEqual(input, {
        name: topicName('input'),
        partitions: 3,
        replicationFactor: 1,
        config: { 'retention.ms': '3600000', 'cleanup.policy': 'compact' },
      });
      if (contract.reportsTopicIds) {
        assert.match(topicId ?? '', TOPIC_ID);
        assert.notEqual(found.get(topicName('output'))?.topicId, topicId);
      } else {
        assert.equal(topicId, undefined);
      }
      assert.deepEqual(found.get(topicName('output'))?.config, {});
      assert.equal((await topics.describe([topicName('never'), topicName('nor-this')])).size, 0);
      assert.equal((await topics.describe([])).size, 0);
    });

    it('grows the partitions, accepts the same count again, and refuses to shrink', async () => {
      await topics.create([spec('grow')]);
      await topics.increasePartitions(topicName('grow'), 5);
      assert.equal((await inspect(topicName('grow')))?.partitions, 5);
      await topics.increasePartitions(topicName('grow'), 5);
      await assert.rejects(topics.increasePartitions(topicName('grow'), 2), {
        code: Errors.KafkaRequestFailed.code,
        details: { kafkaCode: 'INVALID_PARTITIONS', topic: topicName('grow') },
        message: /has 5 already/,
      });
      assert.equal((await inspect(topicName('grow')))?.partitions, 5);
    });

    it('grows the partitions of several topics at once, each to its own count', async () => {
      await topics.create([spec('grow-a'), spec('grow-b'), spec('grow-c')]);
      await Promise.all([
        topics.increasePartitions(topicName('grow-a'), 4),
        topics.increasePartitions(topicName('grow-b'), 6),
        topics.increasePartitions(topicName('grow-c'), 8),
      ]);
      const seen = await Promise.all(['grow-a', 'grow-b', 'grow-c'].map((role) => inspect(topicName(role))));
      assert.deepEqual(
        seen.map((t) => t?.partitions),
        [4, 6, 8],
      );
    });

    it('sets one config and keeps every other config set on the topic, including ones Weir does not manage', async () => {
      await topics.create([spec('alter')]);
      await setConfigsBehindTheBack(topicName('alter'), {
        'retention.ms': '3600000',
        'cleanup.policy': 'compact',
        'max.message.bytes': '2097152',
      });
      await topics.alterConfig(topicName('alter'), { 'retention.ms': '7200000' });
      const seen = await inspect(topicName('alter'));
      assert.deepEqual(seen?.config['retention.ms'], setOnTopic('7200000'));
      assert.deepEqual(seen?.config['cleanup.policy'], setOnTopic('compact'));
      assert.deepEqual(seen?.config['max.message.bytes'], setOnTopic('2097152'));
    });

    it('sees configs changed or removed behind its back as drift and puts them back', async () => {
      const desired = spec('drift');
      await topics.create([desired]);
      // AlterConfigs replaces the whole set: cleanup.policy goes back to the broker default.
      await setConfigsBehindTheBack(desired.name, { 'retention.ms': '1000' });
      assert.deepEqual((await inspect(desired.name))?.config['cleanup.policy'], {
        value: 'delete',
        source: ConfigSource.DEFAULT_CONFIG,
      });
      const plan = planTopicChanges(desired, (await topics.describe([desired.name])).get(desired.name));
      assert.deepEqual(plan, {
        action: 'update',
        setConfig: { 'retention.ms': '3600000', 'cleanup.policy': 'compact' },
      });
      await topics.alterConfig(desired.name, plan.setConfig!);
      assert.deepEqual(planTopicChanges(desired, (await topics.describe([desired.name])).get(desired.name)), {
        action: 'none',
      });
      const seen = await inspect(desired.name);
      assert.deepEqual(seen?.config['retention.ms'], setOnTopic('3600000'));
      assert.deepEqual(seen?.config['cleanup.policy'], setOnTopic('compact'));
    });

    it("reports a refused change as a refusal with Kafka's code and the topic, and changes nothing", async () => {
      await assert.rejects(topics.alterConfig(topicName('input'), { 'retention.ms': 'a week' }), {
        code: Errors.KafkaRequestFailed.code,
        details: { kafkaCode: 'INVALID_CONFIG', topic: topicName('input') },
        message: /retention\.ms=a week/,
      });
      assert.deepEqual((await inspect(topicName('input')))?.config['retention.ms'], setOnTopic('3600000'));
      await assert.rejects(topics.create([spec('three-replicas', { replicationFactor: 3 })]), {
        code: Errors.KafkaRequestFailed.code,
        details: { kafkaCode: 'INVALID_REPLICATION_FACTOR', topic: topicName('three-replicas') },
      });
      assert.equal(await inspect(topicName('three-replicas')), undefined);
      await assert.rejects(topics.alterConfig(topicName('never'), { 'retention.ms': '1' }), {
        code: Errors.KafkaRequestFailed.code,
        details: { kafkaCode: 'UNKNOWN_TOPIC_OR_PARTITION', topic: topicName('never') },
      });
    });

    it('deletes topics and treats missing ones as deleted already', async () => {
      await topics.create([spec('doomed-a'), spec('doomed-b')]);
      await topics.deleteTopics([topicName('doomed-a'), topicName('never'), topicName('doomed-b')]);
      assert.equal(await inspect(topicName('doomed-a')), undefined);
      assert.equal(await inspect(topicName('doomed-b')), undefined);
      await topics.deleteTopics([topicName('doomed-a'), topicName('never')]);
      await topics.deleteTopics([]);
      assert.ok(await inspect(topicName('input')));
    });

    it('measures the round trip of a metadata request in milliseconds', async () => {
      const ms = await topics.ping();
      assert.ok(ms > 0 && ms < 5_000, `ping took ${ms}ms`);
    });

    it('fails within seconds with KafkaUnavailable, call after call, against a broker that accepts connections but never answers', async (t) => {
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => void sockets.add(socket)).listen(0, '127.0.0.1');
      await once(silent, 'listening');
      const hung = contract.connect({
        brokers: [`127.0.0.1:${(silent.address() as AddressInfo).port}`],
        requestTimeoutMs: 3_000,
      });
      t.after(async () => {
        await hung.close();
        for (const socket of sockets) socket.destroy();
        silent.close();
      });
      // A client can be left unable to send anything after a connection that never answered
      // (kafkajs is); the second call shows the adapter is not.
      for (let attempt = 1; attempt <= 2; attempt++) {
        const started = Date.now();
        await assert.rejects(hung.describe([topicName('input')]), { code: Errors.KafkaUnavailable.code });
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 2_500 && elapsed < 30_000, `attempt ${attempt} took ${elapsed}ms to fail`);
      }
    });

    it('fails within seconds with KafkaUnavailable while the broker is down, and works again once it is back', async () => {
      await stopComponent('kafka');
      try {
        const calls: [string, () => Promise<unknown>][] = [
          ['describe', () => topics.describe([topicName('input')])],
          ['create', () => topics.create([spec('after-outage')])],
          ['increasePartitions', () => topics.increasePartitions(topicName('input'), 4)],
          ['alterConfig', () => topics.alterConfig(topicName('input'), { 'retention.ms': '1' })],
          ['deleteTopics', () => topics.deleteTopics([topicName('output')])],
          ['ping', () => topics.ping()],
        ];
        for (const [what, call] of calls) {
          const started = Date.now();
          await assert.rejects(call(), { code: Errors.KafkaUnavailable.code, message: /is unreachable/ }, what);
          const elapsed = Date.now() - started;
          // A refused connection fails in about a second; the bound leaves room for a busy machine.
          assert.ok(elapsed < 30_000, `${what} took ${elapsed}ms to fail`);
        }
      } finally {
        await startComponent('kafka');
      }
      // The same instance, not a new one: it must connect again by itself.
      const found = await topics.describe([topicName('input')]);
      assert.equal(found.get(topicName('input'))?.partitions, 3);
      await topics.create([spec('after-outage')]);
      assert.equal((await inspect(topicName('after-outage')))?.partitions, 3);
    });
  });
}
