/**
 * Tenants' Kafka users against the real broker's SASL/SCRAM listener and authorizer: run
 * under `node hack/local-env/cli.ts run --with kafka -- node --test <this file>`. Each
 * tenant's own client, connected with the credentials the store set, reaches its own
 * topics, groups and transactions and nothing of the other tenant's.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import kafkajs, { type Kafka } from 'kafkajs';
import { silentLogger } from '../observability/logger.ts';
import { KafkaTenantStore, kafkaUserName, tenantAcls } from './kafka-tenant-store.ts';
import { principalOf } from './kafka-users.ts';
import { PlatformaticTopicAdmin } from './platformatic-topic-admin.ts';

const { Kafka: KafkaClient, logLevel } = kafkajs;
const brokers = process.env.WEIR_KAFKA_SASL_BROKERS;
// Without its real server this file fails rather than skips: a skip would read as a pass.
assert.ok(brokers, 'WEIR_KAFKA_SASL_BROKERS is not set: run under hack/local-env/cli.ts run --with kafka');

const run = randomBytes(3).toString('hex');
const tenants = { a: `ka-${run}`, b: `kb-${run}` };
const namespaces = { a: `tenant-${tenants.a}`, b: `tenant-${tenants.b}` };
const topicOf = (who: 'a' | 'b') => `weir.${namespaces[who]}.events.input`;
const passwords = { a: randomBytes(18).toString('base64url'), b: randomBytes(18).toString('base64url') };

const admin = new PlatformaticTopicAdmin({
  brokers: [brokers],
  clientId: 'weir-test-admin',
  sasl: {
    mechanism: 'SCRAM-SHA-512',
    username: process.env.WEIR_KAFKA_ADMIN_USER!,
    password: process.env.WEIR_KAFKA_ADMIN_PASSWORD!,
  },
});
const store = new KafkaTenantStore({ admin, mechanism: 'SCRAM-SHA-512', log: silentLogger() });

/** A client as a tenant's processor connects: its own user and password. */
function clientOf(who: 'a' | 'b', password = passwords[who]): Kafka {
  return new KafkaClient({
    clientId: `tenant-${who}`,
    brokers: [brokers!],
    logLevel: logLevel.NOTHING,
    // The group coordinator may take a moment the first time: retries cover it, not authorization.
    retry: { retries: 5, initialRetryTime: 200 },
    sasl: { mechanism: 'scram-sha-512', username: kafkaUserName(tenants[who]), password },
  });
}

async function produce(kafka: Kafka, topic: string): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({ topic, messages: [{ value: 'hello' }] });
  } finally {
    await producer.disconnect();
  }
}

describe('tenants’ Kafka users', () => {
  before(async () => {
    await admin.create(
      [topicOf('a'), topicOf('b')].map((name) => ({ name, partitions: 1, replicationFactor: 1, config: {} })),
    );
    for (const who of ['a', 'b'] as const)
      await store.ensureUser({
        tenant: tenants[who],
        namespace: namespaces[who],
        password: passwords[who],
        rotate: false,
      });
  });
  after(async () => {
    for (const who of ['a', 'b'] as const) await store.deleteUser(tenants[who]).catch(() => undefined);
    await admin.deleteTopics([topicOf('a'), topicOf('b')]);
    await admin.close();
  });

  it('lets a tenant write and read its own topic in its own consumer group', async () => {
    const kafka = clientOf('a');
    await produce(kafka, topicOf('a'));
    const consumer = kafka.consumer({ groupId: `weir.${namespaces.a}.events.processor` });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: topicOf('a'), fromBeginning: true });
      const got = new Promise<string>(
        (resolve) => void consumer.run({ eachMessage: async ({ message }) => resolve(String(message.value)) }),
      );
      assert.equal(await got, 'hello');
    } finally {
      await consumer.disconnect();
    }
  });

  it('refuses a tenant another tenant’s topic, for writing and for reading', async () => {
    const kafka = clientOf('a');
    await assert.rejects(produce(kafka, topicOf('b')), /Not authorized to access topics/);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = admin.fetchTopicOffsets(topicOf('b'));
      await assert.rejects(offsets, /authoriz/i);
    } finally {
      await admin.disconnect();
    }
  });

  it('refuses a tenant another tenant’s consumer group', async () => {
    const admin = clientOf('a').admin();
    await admin.connect();
    try {
      // Its own group is fine, so the group coordinator answers this client.
      await admin.fetchOffsets({ groupId: `weir.${namespaces.a}.events.processor` });
      // For another's, the broker refuses FindCoordinator with GROUP_AUTHORIZATION_FAILED, which
      // kafkajs retries as if the coordinator were missing, and then reports as such.
      await assert.rejects(
        admin.fetchOffsets({ groupId: `weir.${namespaces.b}.events.processor` }),
        /authoriz|Failed to find group coordinator/i,
      );
    } finally {
      await admin.disconnect();
    }
  });

  it('refuses a wrong password', async () => {
    await assert.rejects(clientOf('a', 'not-the-password').admin().connect(), /authentication failed/i);
  });

  it('grants exactly the tenant’s own prefix, and stops a disabled tenant from connecting at all', async () => {
    const acls = await admin.describeAcls(principalOf(kafkaUserName(tenants.a)));
    assert.deepEqual(
      acls.map((a) => `${a.resourceType} ${a.pattern} ${a.resourceName} ${a.operation}`).sort(),
      tenantAcls(tenants.a, namespaces.a)
        .map((a) => `${a.resourceType} ${a.pattern} ${a.resourceName} ${a.operation}`)
        .sort(),
    );
    assert.equal(await store.disableUser(tenants.a), true);
    await assert.rejects(clientOf('a').admin().connect(), /authentication failed/i);
    assert.equal(await store.disableUser(tenants.a), false, 'disabling twice is fine');
    // Ensuring again brings it back with the same password.
    await store.ensureUser({ tenant: tenants.a, namespace: namespaces.a, password: passwords.a, rotate: false });
    await produce(clientOf('a'), topicOf('a'));
  });
});
