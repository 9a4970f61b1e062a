/**
 * PlatformaticTopicAdmin against a real Kafka broker in KRaft mode, through the cases every
 * TopicAdmin must pass (topic-admin-contract.ts), and the topic ids only it reads: run under
 * `node hack/local-env/cli.ts run --with kafka -- node --test <this file>`.
 * The ids are checked against Kafka's own kafka-topics tool, run from the broker's jars.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { toolchain } from '../../hack/local-env/toolchain.ts';
import { PlatformaticTopicAdmin } from './platformatic-topic-admin.ts';
import { brokers, inspect, topicAdminContract } from './testing/topic-admin-contract.ts';
import { TOPIC_ID } from './topic-admin.ts';
import type { TopicSpec } from './topic-admin.ts';

topicAdminContract({
  name: 'PlatformaticTopicAdmin',
  connect: (options) => new PlatformaticTopicAdmin(options),
  reportsTopicIds: true,
});

/** The topic id `kafka-topics.sh --describe` prints, from the broker's own jars. */
async function topicIdFromKafkaTools(name: string): Promise<string | undefined> {
  const tools = toolchain();
  const { stdout } = await promisify(execFile)(
    tools.java,
    [
      '-XX:TieredStopAtLevel=1',
      '-Xshare:auto',
      '-cp',
      join(tools.kafkaLibs, '*'),
      'org.apache.kafka.tools.TopicCommand',
      '--bootstrap-server',
      brokers[0]!,
      '--describe',
      '--topic',
      name,
    ],
    { timeout: 60_000 },
  );
  return /\bTopicId:\s*(\S+)/.exec(stdout)?.[1];
}

describe('PlatformaticTopicAdmin topic ids', () => {
  const run = randomBytes(3).toString('hex');
  const spec = (role: string): TopicSpec => ({
    name: `weir.it-${run}.${role}`,
    partitions: 1,
    replicationFactor: 1,
    config: {},
  });
  let topics: PlatformaticTopicAdmin;

  before(() => {
    topics = new PlatformaticTopicAdmin({ brokers });
  });
  after(async () => {
    await topics.deleteTopics([spec('id').name, spec('reborn').name]);
    await topics.close();
  });

  it("reports the id Kafka's own tools report for the topic", async () => {
    await topics.create([spec('id')]);
    const id = (await topics.describe([spec('id').name])).get(spec('id').name)?.topicId;
    assert.match(id ?? '', TOPIC_ID);
    assert.equal(id, await topicIdFromKafkaTools(spec('id').name));
  });

  it('keeps the id while the topic lives and reports a new one once it is deleted and created again', async () => {
    const { name } = spec('reborn');
    await topics.create([spec('reborn')]);
    const first = (await topics.describe([name])).get(name)?.topicId;
    assert.match(first ?? '', TOPIC_ID);
    assert.equal((await topics.describe([name])).get(name)?.topicId, first);
    await topics.deleteTopics([name]);
    // Creating it again while the deletion is still visible would leave the old topic in place.
    while (await inspect(name)) await sleep(100);
    await topics.create([spec('reborn')]);
    const second = (await topics.describe([name])).get(name)?.topicId;
    assert.match(second ?? '', TOPIC_ID);
    assert.notEqual(second, first);
  });
});
