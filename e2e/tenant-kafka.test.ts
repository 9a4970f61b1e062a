/**
 * Tenants' Kafka isolation through the operator, against a real API server and a Kafka that
 * authenticates with SCRAM and authorizes with ACLs: each Tenant's credentials Secret holds a
 * Kafka user of its own, which reaches its own topics and is refused another tenant's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import kafkajs, { type Kafka } from 'kafkajs';
import { hasLocalEnv } from '../hack/local-env/control-client.ts';
import { createTestTopics } from '../lib/kafka/testing/create-topics.ts';
import type { Clients } from './cluster.ts';
import type { OperatorProcess } from './operator-process.ts';
import { env, readyTenant, setUpPlatform, startOperator } from './platform.ts';

const { Kafka: KafkaClient, logLevel } = kafkajs;
let clients: Clients;
let operator: OperatorProcess;

/** A tenant's Kafka client, made only from what its credentials Secret says. */
async function tenantClient(tenant: string): Promise<Kafka> {
  const secret = await clients.core.readNamespacedSecret({ namespace: `tenant-${tenant}`, name: 'weir-credentials' });
  const value = (key: string) => {
    const raw = secret.data?.[key];
    assert.ok(raw, `the credentials Secret of ${tenant} has no ${key}`);
    return Buffer.from(raw, 'base64').toString('utf8');
  };
  assert.equal(value('kafka-sasl-mechanism'), 'SCRAM-SHA-512');
  return new KafkaClient({
    clientId: `e2e-${tenant}`,
    brokers: value('kafka-bootstrap-servers').split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 3 },
    sasl: { mechanism: 'scram-sha-512', username: value('kafka-username'), password: value('kafka-password') },
  });
}

async function send(kafka: Kafka, topic: string): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({ topic, messages: [{ value: 'x' }] });
  } finally {
    await producer.disconnect();
  }
}

before(async () => {
  assert.ok(hasLocalEnv(), 'the tenant Kafka e2e tests need the local environment');
  assert.ok(process.env.WEIR_KAFKA_SASL_BROKERS, "the environment's Kafka must have its SASL listener");
  const platform = await setUpPlatform();
  clients = platform.clients;
  operator = await startOperator(platform.operatorKube, 'tenant-kafka', ['--leader-elect=false']);
  await Promise.all([readyTenant(clients, 'kafka-a', {}), readyTenant(clients, 'kafka-b', {})]);
  const admin = new KafkaClient({ brokers: [env('WEIR_KAFKA_BROKERS')], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await createTestTopics(
      admin,
      ['a', 'b'].map((t) => ({ topic: `weir.tenant-kafka-${t}.orders.input`, numPartitions: 1 })),
    );
  } finally {
    await admin.disconnect();
  }
});

after(async () => {
  await operator?.stop();
});

describe('a tenant’s Kafka user', () => {
  it('writes to its own tenant’s topics with the credentials from its Secret', async () => {
    await send(await tenantClient('kafka-a'), 'weir.tenant-kafka-a.orders.input');
  });

  it('is refused another tenant’s topics', async () => {
    await assert.rejects(
      send(await tenantClient('kafka-a'), 'weir.tenant-kafka-b.orders.input'),
      /Not authorized to access topics/,
    );
    await assert.rejects(
      send(await tenantClient('kafka-b'), 'weir.tenant-kafka-a.orders.input'),
      /Not authorized to access topics/,
    );
  });
});
