/**
 * The local environment's API server and Kafka can be stopped and started under running
 * clients, which is what later fault-injection tests rely on.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { Kafka, logLevel } from 'kafkajs';
import { componentStatus, restartComponent, stopComponent, startComponent } from './control-client.ts';

describe('fault injection', () => {
  it('restarts kube-apiserver with its data, and clients carry on', async () => {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    const core = kc.makeApiClient(CoreV1Api);
    const name = `restart-${randomUUID().slice(0, 8)}`;
    await core.createNamespace({ body: { metadata: { name } } });
    await stopComponent('kube-apiserver');
    assert.equal((await componentStatus())['kube-apiserver'], 'stopped');
    await assert.rejects(
      core.readNamespace({ name }),
      (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED',
    );
    await startComponent('kube-apiserver');
    const ns = await core.readNamespace({ name });
    assert.equal(ns.metadata?.name, name, 'the namespace survived in etcd');
    await core.deleteNamespace({ name });
  });

  it('restarts Kafka with its topics', async () => {
    const brokers = process.env.WEIR_KAFKA_BROKERS;
    assert.ok(brokers);
    const kafka = new Kafka({
      clientId: 'weir-restart',
      brokers: [brokers],
      logLevel: logLevel.NOTHING,
      retry: { retries: 20, initialRetryTime: 200 },
    });
    const topic = `weir.restart.${randomUUID()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    await restartComponent('kafka');
    const after = kafka.admin();
    await after.connect();
    try {
      const metadata = await after.fetchTopicMetadata({ topics: [topic] });
      assert.equal(metadata.topics[0]?.partitions.length, 2);
    } finally {
      await after.deleteTopics({ topics: [topic] });
      await after.disconnect();
    }
  });
});
