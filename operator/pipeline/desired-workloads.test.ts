import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineSpec } from '../../crds/pipeline.ts';
import { parseProcessorConfig } from '../../lib/platform/processor-config.ts';
import { desiredTopics } from './desired-topics.ts';
import {
  desiredAutoscaler,
  desiredConfigMap,
  desiredDeployment,
  desiredService,
  type PipelineInput,
} from './desired-workloads.ts';

const owner = {
  apiVersion: 'weir.dev/v1alpha1',
  kind: 'Pipeline',
  name: 'clicks',
  uid: 'u',
  controller: true,
  blockOwnerDeletion: true,
};

function input(spec: unknown): PipelineInput {
  const parsed = PipelineSpec.parse(spec);
  return {
    namespace: 'tenant-acme',
    name: 'clicks',
    spec: parsed,
    ownerReference: owner,
    topics: desiredTopics('tenant-acme', 'clicks', parsed),
    image: 'weir:test',
    kafkaBootstrapServers: ['kafka-0.kafka:9092'],
    tenant: { name: 'acme', piiFields: ['/user/email'] },
  };
}

describe('the processor workload', () => {
  it('names the pipeline in the environment and mounts the compiled configuration', () => {
    const d = desiredDeployment(input({}), undefined);
    const container = d.spec!.template.spec!.containers[0]!;
    assert.deepEqual(container.env?.[0], { name: 'WEIR_PIPELINE', value: 'tenant-acme/clicks' });
    assert.equal(d.spec!.template.spec!.volumes?.[0]?.configMap?.name, 'clicks-processor');
    const config = JSON.parse(desiredConfigMap(input({})).data!['pipeline.json']!);
    assert.equal(config.topics.Input, 'weir.tenant-acme.clicks.input');
  });

  it('writes a configuration the processor reads back, with every topic and the consumer group', () => {
    const config = parseProcessorConfig(
      JSON.parse(desiredConfigMap(input({ source: { partitions: 3 } })).data!['pipeline.json']!),
    );
    assert.deepEqual(config.pipeline, { namespace: 'tenant-acme', name: 'clicks' });
    assert.equal(config.consumerGroup, 'weir.tenant-acme.clicks.processor');
    assert.equal(config.topics.DeadLetter, 'weir.tenant-acme.clicks.dlq');
    assert.equal(config.spec.source.partitions, 3);
  });

  it("reaches Redis and Postgres as its tenant, with the credentials from the tenant's Secret, and knows the tenant's PII fields", () => {
    const env = desiredDeployment(input({}), undefined).spec!.template.spec!.containers[0]!.env!;
    const fromSecret = Object.fromEntries(
      env.filter((e) => e.valueFrom?.secretKeyRef).map((e) => [e.name, e.valueFrom!.secretKeyRef!]),
    );
    assert.deepEqual(fromSecret.WEIR_REDIS_PASSWORD, { name: 'weir-credentials', key: 'redis-password' });
    assert.deepEqual(fromSecret.WEIR_POSTGRES_SCHEMA, { name: 'weir-credentials', key: 'postgres-schema' });
    assert.equal(Object.keys(fromSecret).length, 9);
    assert.ok(
      env.every((e) => e.value === undefined || !/password/i.test(e.name)),
      'no password in a plain value',
    );
    const config = parseProcessorConfig(JSON.parse(desiredConfigMap(input({})).data!['pipeline.json']!));
    assert.deepEqual(config.tenant, { name: 'acme', piiFields: ['/user/email'] });
  });

  it('rolls out when the configuration changes, through a hash on the pod template', () => {
    const a = desiredDeployment(input({ source: { partitions: 3 } }), undefined).spec!.template.metadata!.annotations![
      'weir.dev/config-hash'
    ];
    const b = desiredDeployment(input({ source: { partitions: 4 } }), undefined).spec!.template.metadata!.annotations![
      'weir.dev/config-hash'
    ];
    const again = desiredDeployment(input({ source: { partitions: 3 } }), undefined).spec!.template.metadata!
      .annotations!['weir.dev/config-hash'];
    assert.notEqual(a, b);
    assert.equal(a, again);
  });

  it('leaves the replica count to the autoscaler unless told otherwise', () => {
    assert.equal(desiredDeployment(input({}), undefined).spec!.replicas, undefined);
    assert.equal(desiredDeployment(input({}), 0).spec!.replicas, 0);
  });

  it('runs non-root with a read-only root filesystem and no service account token', () => {
    const pod = desiredDeployment(input({}), undefined).spec!.template.spec!;
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.containers[0]!.securityContext?.readOnlyRootFilesystem, true);
  });

  it('exposes metrics through a headless Service, so no cluster IP is allocated for scraping', () => {
    const service = desiredService(input({ source: { partitions: 3 } }));
    assert.equal(service.spec?.clusterIP, 'None');
    assert.deepEqual(
      service.spec?.ports?.map((p) => [p.name, p.port]),
      [['metrics', 9090]],
    );
  });

  it('scales between the spec minimum and maximum on consumer lag per replica', () => {
    const hpa = desiredAutoscaler(input({ scaling: { minReplicas: 2, maxReplicas: 8, targetLagPerReplica: 500 } }));
    assert.deepEqual([hpa.spec!.minReplicas, hpa.spec!.maxReplicas], [2, 8]);
    assert.equal(hpa.spec!.metrics![0]!.external!.target.averageValue, '500');
  });
});
