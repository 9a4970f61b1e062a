/**
 * Smoke tests of the real Kafka, Redis and PostgreSQL the local environment runs, through
 * the clients Weir uses, and of stopping and starting them for fault injection.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createConnection } from 'node:net';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { startComponent, stopComponent } from './control-client.ts';

function env(name: string): string {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run under hack/local-env/cli.ts run`);
  return value;
}

describe('Kafka', () => {
  it('takes a message from a kafkajs producer and hands it to a consumer group', async () => {
    const kafka = new Kafka({
      clientId: 'weir-smoke',
      brokers: [env('WEIR_KAFKA_BROKERS')],
      logLevel: logLevel.NOTHING,
    });
    const topic = `weir.smoke.${randomUUID()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: 'tenant-a', value: 'hello' }] });
    const consumer = kafka.consumer({ groupId: `smoke-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = new Promise<string>((resolve) => {
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ message }) => resolve(message.value?.toString() ?? ''),
      });
    });
    try {
      assert.equal(await received, 'hello');
      const described = await admin.fetchTopicMetadata({ topics: [topic] });
      assert.equal(described.topics[0]?.partitions.length, 3);
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] });
      await admin.disconnect();
    }
  });
});

describe('Redis', () => {
  it('sets and gets a key with ioredis', async () => {
    const redis = new Redis(env('WEIR_REDIS_URL'));
    try {
      await redis.set('weir:smoke', 'value', 'EX', 60);
      assert.equal(await redis.get('weir:smoke'), 'value');
    } finally {
      redis.disconnect();
    }
  });

  it('refuses connections while stopped and keeps its data across a restart', async () => {
    const url = env('WEIR_REDIS_URL');
    const before = new Redis(url);
    await before.set('weir:durable', 'kept');
    before.disconnect();
    await stopComponent('redis');
    const refused = await new Promise<string>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: Number(new URL(url).port) });
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    assert.equal(refused, 'ECONNREFUSED');
    await startComponent('redis');
    const after = new Redis(url);
    try {
      assert.equal(await after.get('weir:durable'), 'kept');
    } finally {
      after.disconnect();
    }
  });
});

describe('PostgreSQL', () => {
  it('answers a query with pg over password-authenticated TCP', async () => {
    const client = new pg.Client({ connectionString: env('WEIR_POSTGRES_URL') });
    await client.connect();
    try {
      const { rows } = await client.query<{ answer: number }>('SELECT 6 * 7 AS answer');
      assert.equal(rows[0]?.answer, 42);
    } finally {
      await client.end();
    }
  });

  it('rejects a wrong password', async () => {
    const url = new URL(env('WEIR_POSTGRES_URL'));
    url.password = 'wrong';
    const client = new pg.Client({ connectionString: url.toString() });
    await assert.rejects(client.connect(), /password authentication failed/);
  });

  it('keeps its data across a restart', async () => {
    const url = env('WEIR_POSTGRES_URL');
    const first = new pg.Client({ connectionString: url });
    await first.connect();
    await first.query('CREATE TABLE IF NOT EXISTS smoke (v text)');
    await first.query('TRUNCATE smoke');
    await first.query('INSERT INTO smoke VALUES ($1)', ['kept']);
    await first.end();
    await stopComponent('postgres');
    await startComponent('postgres');
    const second = new pg.Client({ connectionString: url });
    await second.connect();
    try {
      assert.deepEqual((await second.query('SELECT v FROM smoke')).rows, [{ v: 'kept' }]);
    } finally {
      await second.end();
    }
  });
});
