import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineSpec } from '../../crds/pipeline.ts';
import { TenantSpec } from '../../crds/tenant.ts';
import { FakeClock } from '../../lib/clock/clock.ts';
import {
  APPLIED_AT_ANNOTATION,
  ChildApplier,
  HASH_ANNOTATION,
  type ChildCache,
} from '../../lib/controller/child-applier.ts';
import { MemoryTopicAdmin } from '../../lib/kafka/testing/memory-topic-admin.ts';
import { EventRecorder } from '../../lib/kube/event-recorder.ts';
import { projectMetadata } from '../../lib/kube/metadata-projection.ts';
import { FakeKubeClient } from '../../lib/kube/testing/fake-kube-client.ts';
import { silentLogger } from '../../lib/observability/logger.ts';
import type { TenantObject } from '../tenant/reconciler.ts';
import { region, T0 } from '../tenant/testing/tenant-fixture.ts';
import { PIPELINE_FINALIZER, PipelineReconciler, type PipelineObject } from './reconciler.ts';

const NS = 'tenant-acme';

function fixture(tenantSpec: unknown = { owners: [{ kind: 'User', name: 'ana' }] }) {
  const clock = new FakeClock({ now: T0 });
  const kube = new FakeKubeClient({ now: () => clock.now() });
  const kafka = new MemoryTopicAdmin();
  /** The cache shows no claim record while this is set, as a cache that has not caught up. */
  let claimsUncached = false;
  // The operator's child cache keeps only metadata (see operator/main.ts); so does this one.
  const project = projectMetadata([HASH_ANNOTATION, APPLIED_AT_ANNOTATION]);
  const children: ChildCache = {
    get: (kind, namespace, name) => {
      if (claimsUncached && name.startsWith('weir-topics.')) return undefined;
      const found = kube.find(kind, namespace || undefined, name);
      return found && project(structuredClone(found));
    },
  };
  kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'weir.dev/tenant': 'acme' } } });
  const tenant: TenantObject = {
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'Tenant',
    metadata: { name: 'acme' },
    spec: TenantSpec.parse(tenantSpec),
    status: { region: 'local' },
  };
  /** What the cache shows; a test can hold it back to play a cache that lags the API server. */
  let cacheOf = (name: string) => kube.find<PipelineObject>('Pipeline', NS, name);
  const reconciler = new PipelineReconciler({
    client: kube.client,
    pipelines: { get: (key) => cacheOf(key.split('/')[1]!), list: () => kube.all<PipelineObject>('Pipeline') },
    tenants: { get: (name) => (name === 'acme' ? tenant : undefined) },
    regions: { list: () => [region('local')] },
    children,
    childApplier: new ChildApplier({ client: kube.client, children, clock, refreshMs: 600_000 }),
    kafka: { forRegion: () => kafka },
    events: new EventRecorder({
      client: kube.client,
      component: 'weir-test',
      instance: 'test',
      clock,
      log: silentLogger(),
    }),
    clock,
    log: silentLogger(),
    processorImage: 'weir:test',
    finalizerTimeoutMs: 3_600_000,
    platformNamespace: 'weir-system',
  });
  const pipeline = (name: string, spec: unknown = {}, created = T0 - 60_000, uid = `uid-${name}`) =>
    kube.seed<PipelineObject>({
      apiVersion: 'weir.dev/v1alpha1',
      kind: 'Pipeline',
      metadata: {
        name,
        uid,
        namespace: NS,
        generation: 1,
        creationTimestamp: new Date(created).toISOString() as never,
      },
      spec: PipelineSpec.parse(spec),
    });
  const reconcile = (name: string) => reconciler.reconcile({ key: `${NS}/${name}`, namespace: NS, name });
  const stored = (name: string) => kube.find<PipelineObject>('Pipeline', NS, name)!;
  const condition = (name: string, type: string) => stored(name).status?.conditions?.find((c) => c.type === type);
  return {
    kube,
    kafka,
    clock,
    pipeline,
    reconcile,
    stored,
    condition,
    holdCache: (f: typeof cacheOf) => (cacheOf = f),
    uncacheClaims: () => (claimsUncached = true),
  };
}

describe('the Pipeline reconciler', () => {
  it('claims its topics in its status before it creates them, then creates the processor workload', async () => {
    const f = fixture();
    f.pipeline('clicks');
    await f.reconcile('clicks');
    const statusWrites = f.kube.writesOf('Pipeline', 'status');
    const claim = (statusWrites[0]!.body as PipelineObject).status!.topics!.map((t) => t.name).sort();
    assert.deepEqual(claim, [
      'weir.tenant-acme.clicks.changelog',
      'weir.tenant-acme.clicks.dlq',
      'weir.tenant-acme.clicks.input',
      'weir.tenant-acme.clicks.output',
      'weir.tenant-acme.clicks.retry',
    ]);
    const create = f.kafka.requests.find((r) => r.startsWith('create '));
    assert.deepEqual(
      create?.slice('create '.length).split(',').sort(),
      claim,
      'every topic in one request, after the claim',
    );
    assert.ok(f.stored('clicks').metadata?.finalizers?.includes(PIPELINE_FINALIZER));
    assert.equal(f.condition('clicks', 'TopicsReady')?.status, 'True');
    for (const kind of ['ConfigMap', 'Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'])
      assert.ok(f.kube.find(kind, NS, 'clicks-processor'), `${kind} written`);
    assert.equal(f.condition('clicks', 'WorkloadReady')?.reason, 'ReplicasUnavailable');
  });

  it('reads its claim from the API server when the cache has not seen it yet, instead of calling its own topics someone else’s', async () => {
    const f = fixture();
    f.pipeline('clicks');
    const stale = f.stored('clicks');
    await f.reconcile('clicks');
    // The next reconcile runs on the object as it was before, and the cache lacks the record.
    f.holdCache(() => stale);
    f.uncacheClaims();
    await f.reconcile('clicks');
    assert.equal(f.condition('clicks', 'TopicsReady')?.status, 'True');
  });

  it('records which Pipeline claimed the topics, by uid, in the platform namespace before creating them', async () => {
    const f = fixture();
    f.pipeline('clicks');
    await f.reconcile('clicks');
    const record = f.kube.find<{ data: Record<string, string> } & PipelineObject>(
      'ConfigMap',
      'weir-system',
      'weir-topics.tenant-acme.clicks',
    );
    assert.equal(record?.data.pipelineUid, 'uid-clicks');
    assert.equal(record?.data.tenant, 'acme');
    const firstApply = f.kube.writes.findIndex(
      (w) => w.kind === 'ConfigMap' && w.name === 'weir-topics.tenant-acme.clicks',
    );
    assert.ok(firstApply >= 0);
  });

  it('never takes over the topics an earlier Pipeline of the same name kept, even with adoptExistingTopics, until its record is removed', async () => {
    const f = fixture();
    f.pipeline('clicks', { lifecycle: { topicDeletionPolicy: 'Retain' } });
    await f.reconcile('clicks');
    await f.kube.delete(f.stored('clicks'));
    await f.reconcile('clicks');
    assert.equal(f.kube.find('Pipeline', NS, 'clicks'), undefined);
    assert.ok(f.kafka.topics.has('weir.tenant-acme.clicks.input'), 'kept, as Retain says');
    // A new Pipeline of the same name: another object, another uid.
    f.pipeline('clicks', { source: { adoptExistingTopics: true } }, T0, 'uid-clicks-again');
    await f.reconcile('clicks');
    assert.equal(f.condition('clicks', 'TopicsReady')?.reason, 'ResourceConflict');
    assert.match(
      f.condition('clicks', 'TopicsReady')!.message!,
      /earlier Pipeline \(uid uid-clicks, tenant acme\).*weir-system\/weir-topics.tenant-acme.clicks/,
    );
    assert.equal(
      f.kube.find('Deployment', NS, 'clicks-processor')?.metadata?.labels?.['weir.dev/pipeline'],
      'clicks',
      'the first one’s workload is gone with it',
    );
    await f.kube.delete({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { namespace: 'weir-system', name: 'weir-topics.tenant-acme.clicks' },
    });
    await f.reconcile('clicks');
    assert.equal(
      f.condition('clicks', 'TopicsReady')?.status,
      'True',
      'released by its record, and adopted on request',
    );
  });

  it('frees the pipeline name with its topics under Delete', async () => {
    const f = fixture();
    f.pipeline('clicks', { lifecycle: { topicDeletionPolicy: 'Delete' } });
    await f.reconcile('clicks');
    await f.kube.delete(f.stored('clicks'));
    await f.reconcile('clicks');
    assert.equal(f.kube.find('ConfigMap', 'weir-system', 'weir-topics.tenant-acme.clicks'), undefined);
  });

  it('reports a topic it did not create as a conflict and creates nothing', async () => {
    const f = fixture();
    f.kafka.topics.set('weir.tenant-acme.clicks.input', {
      name: 'weir.tenant-acme.clicks.input',
      partitions: 1,
      replicationFactor: 1,
      config: {},
    });
    f.pipeline('clicks');
    await f.reconcile('clicks');
    assert.equal(f.condition('clicks', 'TopicsReady')?.reason, 'ResourceConflict');
    assert.ok(!f.kafka.requests.some((r) => r.startsWith('create')));
  });

  const quota: [string, unknown, unknown, RegExp][] = [
    [
      'refuses a retention above the tenant’s maxRetention',
      { owners: [{ kind: 'User', name: 'a' }], quotas: { maxRetention: '24h' } },
      { source: { retention: '48h' } },
      /retention 48h exceeds tenant acme's maxRetention 24h/,
    ],
    [
      'refuses partitions beyond the tenant’s quota',
      { owners: [{ kind: 'User', name: 'a' }], quotas: { partitions: 8 } },
      { source: { partitions: 3 } },
      /may have 8 partitions/,
    ],
  ];
  for (const [name, tenantSpec, spec, message] of quota) {
    it(`${name}, creating nothing`, async () => {
      const f = fixture(tenantSpec);
      f.pipeline('clicks', spec);
      await f.reconcile('clicks');
      assert.equal(f.condition('clicks', 'Ready')?.reason, 'QuotaExceeded');
      assert.match(f.condition('clicks', 'Ready')!.message!, message);
      assert.deepEqual(f.kafka.requests, []);
      assert.equal(f.kube.find('Deployment', NS, 'clicks-processor'), undefined);
    });
  }

  it('makes no Output topic and no Output entry in the configuration when the topic sink is off', async () => {
    const f = fixture();
    f.pipeline('quiet', { sinks: { topic: { enabled: false } } });
    await f.reconcile('quiet');
    assert.ok(!f.kafka.topics.has('weir.tenant-acme.quiet.output'));
    const config = JSON.parse(
      f.kube.find<{ data: Record<string, string> } & PipelineObject>('ConfigMap', NS, 'quiet-processor')!.data[
        'pipeline.json'
      ]!,
    );
    assert.equal(config.topics.Output, undefined);
    assert.equal(f.condition('quiet', 'TopicsReady')?.status, 'True');
  });

  const schemas: [string, unknown, ((f: ReturnType<typeof fixture>) => void) | undefined, string, RegExp][] = [
    [
      'reports an inline JSON Schema that does not compile, with the compiler’s error',
      { jsonSchema: { type: 'object', properties: { a: { type: 'strnig' } } } },
      undefined,
      'InvalidSchema',
      /does not compile: .*type/,
    ],
    [
      'reports a schema ConfigMap that does not exist',
      { configMapRef: { name: 'clicks-schema', key: 'schema.json' } },
      undefined,
      'SchemaNotFound',
      /ConfigMap tenant-acme\/clicks-schema does not exist/,
    ],
    [
      'reports a schema ConfigMap key that is not JSON',
      { configMapRef: { name: 'clicks-schema', key: 'schema.json' } },
      (f) =>
        f.kube.seed({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'clicks-schema', namespace: NS },
          data: { 'schema.json': '{ not json' },
        }),
      'InvalidSchema',
      /is not JSON/,
    ],
    [
      'reports a protobuf descriptor that is not one',
      { protobuf: { descriptorRef: { name: 'desc', key: 'set.bin' }, messageType: 'shop.v1.Click' } },
      (f) =>
        f.kube.seed({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'desc', namespace: NS },
          binaryData: { 'set.bin': Buffer.from('garbage').toString('base64') },
        }),
      'InvalidSchema',
      /protobuf descriptor has no usable shop.v1.Click/,
    ],
  ];
  for (const [name, schema, seed, reason, message] of schemas) {
    it(`${name}, and does not start the processor with it`, async () => {
      const f = fixture();
      seed?.(f);
      f.pipeline('clicks', { schema });
      await f.reconcile('clicks');
      assert.equal(f.condition('clicks', 'SchemaReady')?.reason, reason);
      assert.match(f.condition('clicks', 'SchemaReady')!.message!, message);
      assert.equal(f.condition('clicks', 'Ready')?.status, 'False');
      assert.equal(f.kube.find('Deployment', NS, 'clicks-processor'), undefined);
    });
  }

  it('accepts a JSON Schema from a ConfigMap that compiles', async () => {
    const f = fixture();
    f.kube.seed({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'clicks-schema', namespace: NS },
      data: { 'schema.json': JSON.stringify({ type: 'object', required: ['user'] }) },
    });
    f.pipeline('clicks', { schema: { configMapRef: { name: 'clicks-schema', key: 'schema.json' }, version: 3 } });
    await f.reconcile('clicks');
    assert.equal(f.condition('clicks', 'SchemaReady')?.status, 'True');
    assert.match(f.condition('clicks', 'SchemaReady')!.message!, /version 3 compiles/);
    assert.ok(f.kube.find('Deployment', NS, 'clicks-processor'));
  });

  it('scales the processor to zero and removes its autoscaler when paused', async () => {
    const f = fixture();
    f.pipeline('clicks');
    await f.reconcile('clicks');
    const running = f.stored('clicks');
    f.kube.seed({ ...running, spec: PipelineSpec.parse({ lifecycle: { desiredPhase: 'Paused' } }) });
    await f.reconcile('clicks');
    assert.equal(
      f.kube.find<{ spec: { replicas: number } } & PipelineObject>('Deployment', NS, 'clicks-processor')!.spec.replicas,
      0,
    );
    assert.equal(f.kube.find('HorizontalPodAutoscaler', NS, 'clicks-processor'), undefined);
    assert.equal(f.stored('clicks').status?.phase, 'Paused');
  });

  it('retries with backoff when Kafka refuses with an error that passes (its controller moving), and not when the request itself is refused', async () => {
    const f = fixture();
    f.pipeline('clicks');
    f.kafka.refusals.push('NOT_CONTROLLER');
    await assert.rejects(f.reconcile('clicks'), /NOT_CONTROLLER/);
    assert.equal(f.condition('clicks', 'TopicsReady')?.reason, 'KafkaBusy');
    f.kafka.refusals.push('POLICY_VIOLATION');
    await f.reconcile('clicks');
    assert.equal(f.condition('clicks', 'TopicsReady')?.reason, 'ApplyFailed');
    await f.reconcile('clicks');
    assert.equal(f.condition('clicks', 'TopicsReady')?.status, 'True');
  });

  it('retries with backoff while Kafka is unreachable, saying so in its status', async () => {
    const f = fixture();
    f.pipeline('clicks');
    f.kafka.down = true;
    await assert.rejects(f.reconcile('clicks'), /unreachable/);
    assert.equal(f.condition('clicks', 'TopicsReady')?.reason, 'KafkaUnreachable');
  });
});

describe('deleting a Pipeline', () => {
  const cases: [string, string, boolean][] = [
    ['deletes its topics under topicDeletionPolicy Delete', 'Delete', false],
    ['keeps its topics under topicDeletionPolicy Retain', 'Retain', true],
  ];
  for (const [name, policy, kept] of cases) {
    it(name, async () => {
      const f = fixture();
      f.pipeline('clicks', { lifecycle: { topicDeletionPolicy: policy } });
      await f.reconcile('clicks');
      await f.kube.delete(f.stored('clicks'));
      await f.reconcile('clicks');
      assert.equal(f.kafka.topics.has('weir.tenant-acme.clicks.input'), kept);
      assert.equal(f.kube.find('Pipeline', NS, 'clicks'), undefined);
    });
  }

  it('stays with CleanupFailed while Kafka is unreachable, until annotated to let go', async () => {
    const f = fixture();
    f.pipeline('clicks', { lifecycle: { topicDeletionPolicy: 'Delete' } });
    await f.reconcile('clicks');
    await f.kube.delete(f.stored('clicks'));
    f.kafka.down = true;
    await assert.rejects(f.reconcile('clicks'), /deleting topics failed/);
    assert.equal(f.condition('clicks', 'Ready')?.reason, 'CleanupFailed');
    const p = f.stored('clicks');
    f.kube.seed({ ...p, metadata: { ...p.metadata, annotations: { 'weir.dev/release-finalizer': 'true' } } });
    await f.reconcile('clicks');
    assert.equal(f.kube.find('Pipeline', NS, 'clicks'), undefined);
  });
});
