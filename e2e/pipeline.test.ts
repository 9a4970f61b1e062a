/**
 * The Pipeline controller against a real API server and a real Kafka broker: topics are
 * created with the spec's partitions and configuration (checked with a separate Kafka
 * client), grow, have drift reverted, survive a broker outage, and are kept or deleted on
 * deletion; the processor workload follows Paused and Running; tenant quotas hold.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import kafkajs, { type Kafka } from 'kafkajs';
import { hasLocalEnv, startComponent, stopComponent } from '../hack/local-env/control-client.ts';
import { applyWeirObject, deleteWeirObject, kubectl, type Clients } from './cluster.ts';
import { eventually } from './eventually.ts';
import type { OperatorProcess } from './operator-process.ts';
import { env, readyTenant, setUpPlatform, startOperator } from './platform.ts';
import { createTestTopics } from '../lib/kafka/testing/create-topics.ts';
import { TOPIC_ID } from '../lib/kafka/topic-admin.ts';

const { ConfigResourceTypes, logLevel } = kafkajs;
const NS = 'tenant-streams';

interface PipelineView {
  metadata: { name: string };
  status?: {
    phase?: string;
    topics?: { role: string; name: string; partitions?: number; topicId?: string }[];
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

let clients: Clients;
let operator: OperatorProcess;
let kafka: Kafka;

function pipeline(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'Pipeline',
    metadata: { name, namespace: NS },
    spec: { source: { partitions: 3, retention: '24h' }, scaling: { minReplicas: 1, maxReplicas: 3 }, ...spec },
  };
}

async function getPipeline(name: string): Promise<PipelineView> {
  return (await clients.custom.getNamespacedCustomObject({
    group: 'weir.dev',
    version: 'v1alpha1',
    plural: 'pipelines',
    namespace: NS,
    name,
  })) as PipelineView;
}

function condition(p: PipelineView, type: string) {
  return p.status?.conditions?.find((c) => c.type === type);
}

/** Partitions and dynamic configuration of a topic as the broker reports them, not through Weir's code. */
async function brokerView(topic: string): Promise<{ partitions: number; config: Record<string, string> } | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) return undefined;
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
    });
    const entries = configs.resources[0]?.configEntries ?? [];
    return {
      partitions: metadata.topics[0]!.partitions.length,
      config: Object.fromEntries(entries.map((e) => [e.configName, e.configValue])),
    };
  } finally {
    await admin.disconnect();
  }
}

before(async () => {
  assert.ok(hasLocalEnv(), 'the pipeline e2e tests need the local environment for Kafka');
  let operatorKube: string;
  ({ clients, operatorKube } = await setUpPlatform());
  kafka = new kafkajs.Kafka({
    clientId: 'weir-e2e-check',
    brokers: [env('WEIR_KAFKA_BROKERS')],
    logLevel: logLevel.NOTHING,
  });
  operator = await startOperator(operatorKube, 'pipelines', ['--leader-elect=false']);
  await readyTenant(clients, 'streams', { pipelines: 3, partitions: 60 });
});

after(async () => {
  await operator?.kill();
});

describe('a pipeline', () => {
  it('gets input, output, retry, dead-letter and changelog topics with its partitions and retention', async () => {
    // The API server's quota admission may not have seen the new tenant's quota counted yet.
    await eventually(() => applyWeirObject(clients.custom, pipeline('orders') as never), 30_000);
    const p = await eventually(async () => {
      const current = await getPipeline('orders');
      assert.equal(condition(current, 'TopicsReady')?.status, 'True', JSON.stringify(current.status?.conditions));
      return current;
    }, 60_000);
    assert.deepEqual(p.status?.topics?.map((t) => t.name).sort(), [
      'weir.tenant-streams.orders.changelog',
      'weir.tenant-streams.orders.dlq',
      'weir.tenant-streams.orders.input',
      'weir.tenant-streams.orders.output',
      'weir.tenant-streams.orders.retry',
    ]);
    // Kafka's topic ids, in the form kafka-topics.sh prints them, one per topic.
    const ids = p.status?.topics?.map((t) => t.topicId ?? '') ?? [];
    assert.ok(
      ids.every((id) => TOPIC_ID.test(id)),
      JSON.stringify(p.status?.topics),
    );
    assert.equal(new Set(ids).size, 5);
    const input = await brokerView('weir.tenant-streams.orders.input');
    assert.equal(input?.partitions, 3);
    assert.equal(input?.config['retention.ms'], String(24 * 3600 * 1000));
    assert.equal(
      (await brokerView('weir.tenant-streams.orders.dlq'))?.config['retention.ms'],
      String(4 * 24 * 3600 * 1000),
    );
  });

  it('gets its processor Deployment, Service, autoscaler, disruption budget and configuration, owned by the Pipeline', async () => {
    await eventually(async () => {
      const d = await clients.kc
        .makeApiClient((await import('@kubernetes/client-node')).AppsV1Api)
        .readNamespacedDeployment({ namespace: NS, name: 'orders-processor' });
      assert.equal(d.metadata?.ownerReferences?.[0]?.kind, 'Pipeline');
      assert.ok(d.spec?.template.metadata?.annotations?.['weir.dev/config-hash']);
      assert.ok(
        d.spec?.template.spec?.containers[0]?.env?.some(
          (e) => e.name === 'WEIR_PIPELINE' && e.value === `${NS}/orders`,
        ),
      );
    });
    const k8s = await import('@kubernetes/client-node');
    await clients.core.readNamespacedService({ namespace: NS, name: 'orders-processor' });
    const cm = await clients.core.readNamespacedConfigMap({ namespace: NS, name: 'orders-processor' });
    assert.equal(JSON.parse(cm.data!['pipeline.json']!).topics.Input, 'weir.tenant-streams.orders.input');
    const hpa = await clients.kc
      .makeApiClient(k8s.AutoscalingV2Api)
      .readNamespacedHorizontalPodAutoscaler({ namespace: NS, name: 'orders-processor' });
    assert.deepEqual([hpa.spec?.minReplicas, hpa.spec?.maxReplicas], [1, 3]);
    await clients.kc
      .makeApiClient(k8s.PolicyV1Api)
      .readNamespacedPodDisruptionBudget({ namespace: NS, name: 'orders-processor' });
    // The processor runs (on the local environment's process node, or a kubelet) and the
    // Pipeline is Ready once it is available.
    await eventually(async () => {
      const p = await getPipeline('orders');
      assert.equal(condition(p, 'WorkloadReady')?.status, 'True', JSON.stringify(condition(p, 'WorkloadReady')));
      assert.equal(p.status?.phase, 'Running');
    }, 90_000);
  });

  it('keeps the tenant’s owners off the processor’s ConfigMap, while they manage ConfigMaps of their own', async () => {
    const asOwner = (...args: string[]) => kubectl(['--as=streams-owner', '-n', NS, ...args]);
    const own = asOwner('create', 'configmap', 'owner-schema', '--from-literal=schema.json={}');
    assert.equal(own.status, 0, own.stderr);
    assert.equal(asOwner('delete', 'configmap', 'owner-schema').status, 0);
    // Pointing the processor at another tenant's topics through its configuration is refused.
    const patched = asOwner(
      'patch',
      'configmap',
      'orders-processor',
      '--type=merge',
      '-p',
      '{"data":{"pipeline.json":"{}"}}',
    );
    assert.notEqual(patched.status, 0);
    assert.match(patched.stderr, /objects the Weir operator manages can only be changed by the operator/);
    const deleted = asOwner('delete', 'configmap', 'orders-processor');
    assert.notEqual(deleted.status, 0);
    assert.match(deleted.stderr, /can only be changed by the operator/);
    const quota = await clients.core.readNamespacedResourceQuota({ namespace: NS, name: 'weir-quota' });
    assert.ok(
      quota.spec?.hard?.['count/configmaps'] && quota.spec?.hard?.['count/secrets'],
      'the quota counts ConfigMaps and Secrets',
    );
  });

  it('grows its topics when partitions increase', async () => {
    await applyWeirObject(clients.custom, pipeline('orders', { source: { partitions: 5, retention: '24h' } }) as never);
    await eventually(
      async () => assert.equal((await brokerView('weir.tenant-streams.orders.input'))?.partitions, 5),
      30_000,
    );
    await eventually(
      async () =>
        assert.equal((await getPipeline('orders')).status?.topics?.find((t) => t.role === 'Input')?.partitions, 5),
      30_000,
    );
  });

  it('reverts a topic configuration changed behind its back', async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: 'weir.tenant-streams.orders.input',
          configEntries: [
            { name: 'retention.ms', value: '1000' },
            { name: 'cleanup.policy', value: 'delete' },
          ],
        },
      ],
    });
    await admin.disconnect();
    await eventually(
      async () =>
        assert.equal(
          (await brokerView('weir.tenant-streams.orders.input'))?.config['retention.ms'],
          String(24 * 3600 * 1000),
        ),
      30_000,
    );
  });

  it('scales the processor to zero when Paused and back when Running', async () => {
    const apps = clients.kc.makeApiClient((await import('@kubernetes/client-node')).AppsV1Api);
    await applyWeirObject(
      clients.custom,
      pipeline('orders', {
        source: { partitions: 5, retention: '24h' },
        lifecycle: { desiredPhase: 'Paused' },
      }) as never,
    );
    await eventually(async () => {
      assert.equal(
        (await apps.readNamespacedDeployment({ namespace: NS, name: 'orders-processor' })).spec?.replicas,
        0,
      );
      assert.equal((await getPipeline('orders')).status?.phase, 'Paused');
    }, 30_000);
    await applyWeirObject(
      clients.custom,
      pipeline('orders', {
        source: { partitions: 5, retention: '24h' },
        lifecycle: { desiredPhase: 'Running' },
      }) as never,
    );
    await eventually(
      async () =>
        assert.equal(
          (await apps.readNamespacedDeployment({ namespace: NS, name: 'orders-processor' })).spec?.replicas,
          1,
        ),
      30_000,
    );
  });

  it('reports Kafka unreachable while the broker is down and recovers on its own', async () => {
    await stopComponent('kafka');
    try {
      await applyWeirObject(clients.custom, pipeline('payments') as never);
      await eventually(
        async () => assert.equal(condition(await getPipeline('payments'), 'TopicsReady')?.reason, 'KafkaUnreachable'),
        60_000,
      );
    } finally {
      await startComponent('kafka');
    }
    await eventually(
      async () => assert.equal(condition(await getPipeline('payments'), 'TopicsReady')?.status, 'True'),
      90_000,
    );
  });

  it("gets QuotaExceeded and nothing created past the tenant's partition quota", async () => {
    // orders (5 partitions) and payments (3) hold 5 topics each: 40 of the tenant's 60.
    await applyWeirObject(clients.custom, pipeline('big', { source: { partitions: 10, retention: '24h' } }) as never);
    const p = await eventually(async () => {
      const current = await getPipeline('big');
      assert.equal(condition(current, 'Ready')?.reason, 'QuotaExceeded');
      return current;
    }, 30_000);
    assert.match(
      condition(p, 'Ready')?.message ?? '',
      /may have 60 partitions; with this pipeline's 50 it would have 90/,
    );
    assert.equal(await brokerView('weir.tenant-streams.big.input'), undefined);
  });

  it("is refused at admission past the tenant's pipeline quota", async () => {
    // orders, payments and big make three: the tenant's ResourceQuota counts Pipelines.
    await assert.rejects(applyWeirObject(clients.custom, pipeline('one-too-many') as never), (err: { body?: string }) =>
      /exceeded quota: weir-quota.*count\/pipelines\.weir\.dev/.test(String(err.body)),
    );
    await deleteWeirObject(clients.custom, pipeline('big'));
  });

  it('keeps its topics when deleted under Retain, and deletes them under Delete', async () => {
    await deleteWeirObject(clients.custom, pipeline('payments'));
    await eventually(
      () => assert.rejects(getPipeline('payments'), (err: { code?: number }) => err.code === 404),
      30_000,
    );
    assert.ok(await brokerView('weir.tenant-streams.payments.input'), 'Retain deleted the topic');

    await applyWeirObject(
      clients.custom,
      pipeline('orders', {
        source: { partitions: 5, retention: '24h' },
        lifecycle: { topicDeletionPolicy: 'Delete' },
      }) as never,
    );
    await deleteWeirObject(clients.custom, pipeline('orders'));
    await eventually(() => assert.rejects(getPipeline('orders'), (err: { code?: number }) => err.code === 404), 30_000);
    await eventually(async () => assert.equal(await brokerView('weir.tenant-streams.orders.input'), undefined), 30_000);
  });
  it('reports a failed cleanup while Kafka is down under Delete, and lets go when released', async () => {
    await eventually(
      () =>
        applyWeirObject(clients.custom, pipeline('ledger', { lifecycle: { topicDeletionPolicy: 'Delete' } }) as never),
      30_000,
    );
    await eventually(
      async () => assert.equal(condition(await getPipeline('ledger'), 'TopicsReady')?.status, 'True'),
      60_000,
    );
    await stopComponent('kafka');
    try {
      await deleteWeirObject(clients.custom, pipeline('ledger'));
      const stuck = await eventually(async () => {
        const current = await getPipeline('ledger');
        assert.equal(condition(current, 'Ready')?.reason, 'CleanupFailed');
        return current;
      }, 60_000);
      assert.match(condition(stuck, 'Ready')?.message ?? '', /weir\.dev\/release-finalizer=true/);
      assert.equal(stuck.status?.phase, 'Terminating');
      // Still held: the finalizer waits for Kafka rather than losing track of the topics.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      assert.ok(await getPipeline('ledger'));
      await clients.custom.patchNamespacedCustomObject(
        {
          group: 'weir.dev',
          version: 'v1alpha1',
          plural: 'pipelines',
          namespace: NS,
          name: 'ledger',
          body: { metadata: { annotations: { 'weir.dev/release-finalizer': 'true' } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await eventually(
        () => assert.rejects(getPipeline('ledger'), (err: { code?: number }) => err.code === 404),
        30_000,
      );
    } finally {
      await startComponent('kafka');
    }
    // Released means left behind, not deleted: the topics are still there for someone to clean up.
    await eventually(async () => assert.ok(await brokerView('weir.tenant-streams.ledger.input')), 60_000);
  });

  it('claims its topics in its status before creating them: a topic it did not create is a conflict until adopted, and a claim outlives a failed create', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await createTestTopics(admin, [{ topic: 'weir.tenant-streams.shared.input', numPartitions: 1 }]);
    } finally {
      await admin.disconnect();
    }
    await eventually(() => applyWeirObject(clients.custom, pipeline('shared') as never), 30_000);
    const conflict = await eventually(async () => {
      const current = await getPipeline('shared');
      assert.equal(condition(current, 'TopicsReady')?.reason, 'ResourceConflict');
      return current;
    }, 60_000);
    assert.match(
      condition(conflict, 'TopicsReady')?.message ?? '',
      /weir\.tenant-streams\.shared\.input .*adoptExistingTopics/,
    );
    assert.equal(
      await brokerView('weir.tenant-streams.shared.output'),
      undefined,
      'topics were created beside the conflict',
    );
    await applyWeirObject(
      clients.custom,
      pipeline('shared', { source: { partitions: 3, retention: '24h', adoptExistingTopics: true } }) as never,
    );
    await eventually(
      async () => assert.equal(condition(await getPipeline('shared'), 'TopicsReady')?.status, 'True'),
      60_000,
    );
    assert.equal((await brokerView('weir.tenant-streams.shared.input'))?.partitions, 3);

    // One broker cannot hold three replicas: creating fails after the claim is written, and
    // the status keeps the claim, so the topics stay this pipeline's whatever happens next.
    await applyWeirObject(
      clients.custom,
      pipeline('replicated', { source: { partitions: 3, retention: '24h', replicationFactor: 3 } }) as never,
    );
    const failed = await eventually(async () => {
      const current = await getPipeline('replicated');
      assert.equal(condition(current, 'TopicsReady')?.reason, 'ApplyFailed');
      return current;
    }, 60_000);
    assert.deepEqual(
      failed.status?.topics?.map((t) => t.name).sort(),
      ['changelog', 'dlq', 'input', 'output', 'retry'].map((r) => `weir.tenant-streams.replicated.${r}`),
    );
    for (const name of ['replicated', 'shared']) {
      await deleteWeirObject(clients.custom, pipeline(name));
      await eventually(() => assert.rejects(getPipeline(name), (err: { code?: number }) => err.code === 404), 30_000);
    }
  });
});
