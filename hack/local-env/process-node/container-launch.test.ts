import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { desiredDeployment } from '../../../operator/pipeline/desired-workloads.ts';
import { desiredTopics } from '../../../operator/pipeline/desired-topics.ts';
import { PipelineSpec } from '../../../crds/pipeline.ts';
import { containerLaunch, type LaunchContext } from './container-launch.ts';

/** A pod as the ReplicaSet makes it from the operator's processor Deployment. */
function processorPod(): V1Pod {
  const spec = PipelineSpec.parse({});
  const ownerReference = { apiVersion: 'weir.dev/v1alpha1', kind: 'Pipeline', name: 'clicks', uid: 'u' };
  const template = desiredDeployment(
    {
      namespace: 'tenant-acme',
      name: 'clicks',
      spec,
      ownerReference,
      topics: desiredTopics('tenant-acme', 'clicks', spec),
      image: 'ghcr.io/weir-dev/weir:0.1.0',
      kafkaBootstrapServers: ['127.0.0.1:9092'],
      tenant: { name: 'acme', piiFields: [] },
    },
    1,
  ).spec!.template;
  return {
    metadata: { name: 'clicks-processor-7d9f-abcde', namespace: 'tenant-acme', uid: 'pod-uid' },
    spec: { ...template.spec!, nodeName: 'weir-process-node' },
  };
}

const ctx: LaunchContext = {
  podIP: '127.42.0.5',
  hostIP: '127.0.0.1',
  repoRoot: '/work/weir',
  volumeDirs: new Map([['config', '/tmp/env/process-node/pods/pod-uid/volumes/config']]),
  agentUid: 0,
};
/** The tenant's credentials Secret the processor's environment reads. */
const credentials = Object.fromEntries(
  [
    'redis-endpoint',
    'redis-username',
    'redis-password',
    'redis-key-prefix',
    'postgres-endpoint',
    'postgres-database',
    'postgres-username',
    'postgres-password',
    'postgres-schema',
  ].map((k) => [k, Buffer.from(`${k}-value`)]),
);
const noSources = { configMaps: new Map(), secrets: new Map([['weir-credentials', credentials]]) };

describe("the processor's launch", () => {
  it('runs the pod command from the repository root with its Node first on PATH', () => {
    const pod = processorPod();
    const launch = containerLaunch(pod, pod.spec!.containers[0]!, noSources, ctx);
    assert.equal(launch.command, 'node');
    assert.deepEqual(launch.args, ['dataplane/processor/main.ts']);
    assert.equal(launch.cwd, '/work/weir');
    assert.match(launch.env.PATH!, /^\/work\/weir\/node_modules\/\.bin:/);
  });

  it('finds the configuration where the node wrote the config volume, and binds the pod IP', () => {
    const pod = processorPod();
    const launch = containerLaunch(pod, pod.spec!.containers[0]!, noSources, ctx);
    assert.equal(launch.env.WEIR_PIPELINE_CONFIG, '/tmp/env/process-node/pods/pod-uid/volumes/config/pipeline.json');
    assert.equal(launch.env.WEIR_PIPELINE, 'tenant-acme/clicks');
    assert.equal(launch.env.WEIR_LISTEN_HOST, '127.42.0.5');
    assert.equal(launch.env.HOSTNAME, 'clicks-processor-7d9f-abcde');
  });

  it("runs as the Deployment's non-root user", () => {
    const pod = processorPod();
    const launch = containerLaunch(pod, pod.spec!.containers[0]!, noSources, ctx);
    assert.deepEqual([launch.uid, launch.gid], [65532, 0]);
  });

  it("passes nothing of the agent's own environment on", () => {
    const pod = processorPod();
    const launch = containerLaunch(pod, pod.spec!.containers[0]!, noSources, ctx);
    assert.deepEqual(Object.keys(launch.env).sort(), [
      'HOME',
      'HOSTNAME',
      'PATH',
      'WEIR_LISTEN_HOST',
      'WEIR_PIPELINE',
      'WEIR_PIPELINE_CONFIG',
      'WEIR_POSTGRES_DATABASE',
      'WEIR_POSTGRES_ENDPOINT',
      'WEIR_POSTGRES_PASSWORD',
      'WEIR_POSTGRES_SCHEMA',
      'WEIR_POSTGRES_USERNAME',
      'WEIR_REDIS_ENDPOINT',
      'WEIR_REDIS_KEY_PREFIX',
      'WEIR_REDIS_PASSWORD',
      'WEIR_REDIS_USERNAME',
    ]);
  });

  it("lets the pod's own variables win, WEIR_LISTEN_HOST included", () => {
    const pod = processorPod();
    const container = {
      ...pod.spec!.containers[0]!,
      env: [
        { name: 'WEIR_LISTEN_HOST', value: '127.0.0.1' },
        { name: 'PATH', value: '/bin' },
      ],
    };
    const launch = containerLaunch(pod, container, noSources, ctx);
    assert.deepEqual([launch.env.WEIR_LISTEN_HOST, launch.env.PATH], ['127.0.0.1', '/bin']);
  });

  it('refuses a container without a command: the image entrypoint is unknown here', () => {
    const pod = processorPod();
    assert.throws(() => containerLaunch(pod, { name: 'c', image: 'ghcr.io/weir-dev/weir:0.1.0' }, noSources, ctx), {
      reason: 'RunContainerError',
    } as object);
  });
});
