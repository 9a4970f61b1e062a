/**
 * The processor workload of a Pipeline as pure functions: the ConfigMap with the compiled
 * configuration, the Deployment (its pod template carries the configuration's hash so a
 * change rolls out), the metrics Service, the HorizontalPodAutoscaler and the
 * PodDisruptionBudget. All are owned by the Pipeline, so the garbage collector removes them.
 */
import { createHash } from 'node:crypto';
import type {
  V1ConfigMap,
  V1Deployment,
  V1OwnerReference,
  V1PodDisruptionBudget,
  V1Service,
  V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import type { PipelineSpec } from '../../crds/pipeline.ts';
import type { TopicSpec } from '../../lib/kafka/topic-admin.ts';
import { serializeProcessorConfig, type ProcessorConfigInput } from '../../lib/platform/processor-config.ts';
import { consumerGroup, pipelineLabels, processorName, type TopicRole } from '../../lib/platform/pipeline-names.ts';
import { CREDENTIALS_SECRET } from '../../lib/platform/tenant-names.ts';

/** What the builders need to know about a Pipeline. */
export interface PipelineInput {
  namespace: string;
  name: string;
  spec: PipelineSpec;
  ownerReference: V1OwnerReference;
  topics: Map<TopicRole, TopicSpec>;
  /** The Weir image the processor runs. */
  image: string;
  /** Bootstrap servers of the Kafka cluster of the tenant's Region. */
  kafkaBootstrapServers: string[];
  /** Set when the Region's Kafka takes SCRAM credentials: the processor connects as its tenant's user. */
  kafkaSasl?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' };
  kafkaTls?: boolean;
  /** The tenant that owns the namespace, and the fields its data policy masks. */
  tenant: { name: string; piiFields: string[] };
}

/** The processor's environment from the tenant's credentials Secret: it reaches Redis, Postgres and Kafka as the tenant. */
const CREDENTIAL_ENV: [env: string, key: string][] = [
  ['WEIR_REDIS_ENDPOINT', 'redis-endpoint'],
  ['WEIR_REDIS_USERNAME', 'redis-username'],
  ['WEIR_REDIS_PASSWORD', 'redis-password'],
  ['WEIR_REDIS_KEY_PREFIX', 'redis-key-prefix'],
  ['WEIR_POSTGRES_ENDPOINT', 'postgres-endpoint'],
  ['WEIR_POSTGRES_DATABASE', 'postgres-database'],
  ['WEIR_POSTGRES_USERNAME', 'postgres-username'],
  ['WEIR_POSTGRES_PASSWORD', 'postgres-password'],
  ['WEIR_POSTGRES_SCHEMA', 'postgres-schema'],
];

/** Where the Region's Kafka takes SCRAM credentials, the processor's user and password too. */
const KAFKA_CREDENTIAL_ENV: [env: string, key: string][] = [
  ['WEIR_KAFKA_USERNAME', 'kafka-username'],
  ['WEIR_KAFKA_PASSWORD', 'kafka-password'],
];

function credentialEnv(p: PipelineInput) {
  return [...CREDENTIAL_ENV, ...(p.kafkaSasl ? KAFKA_CREDENTIAL_ENV : [])].map(([name, key]) => ({
    name,
    valueFrom: { secretKeyRef: { name: CREDENTIALS_SECRET, key } },
  }));
}

/** The configuration the processor reads: the spec plus everything the operator resolved. */
export function compiledConfig(p: PipelineInput): string {
  return serializeProcessorConfig({
    pipeline: { namespace: p.namespace, name: p.name },
    consumerGroup: consumerGroup(p.namespace, p.name),
    kafka: { bootstrapServers: p.kafkaBootstrapServers, sasl: p.kafkaSasl, tls: p.kafkaTls },
    topics: Object.fromEntries([...p.topics].map(([role, t]) => [role, t.name])) as ProcessorConfigInput['topics'],
    tenant: p.tenant,
    spec: p.spec,
  });
}

function meta(p: PipelineInput) {
  return {
    name: processorName(p.name),
    namespace: p.namespace,
    labels: pipelineLabels(p.name),
    ownerReferences: [p.ownerReference],
  };
}

export function desiredConfigMap(p: PipelineInput): V1ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(p), data: { 'pipeline.json': compiledConfig(p) } };
}

/**
 * The processor Deployment. While Paused it has zero replicas; while Running it leaves the
 * replica count to the autoscaler (`replicas` set only when resuming from zero).
 */
export function desiredDeployment(p: PipelineInput, replicas: number | undefined): V1Deployment {
  const labels = pipelineLabels(p.name);
  const configHash = createHash('sha256').update(compiledConfig(p)).digest('hex').slice(0, 16);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(p),
    spec: {
      replicas,
      selector: { matchLabels: { 'weir.dev/pipeline': p.name, 'app.kubernetes.io/name': 'weir-processor' } },
      template: {
        metadata: { labels, annotations: { 'weir.dev/config-hash': configHash } },
        spec: {
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'processor',
              image: p.image,
              command: ['node', 'dataplane/processor/main.ts'],
              env: [
                { name: 'WEIR_PIPELINE', value: `${p.namespace}/${p.name}` },
                { name: 'WEIR_PIPELINE_CONFIG', value: '/etc/weir/pipeline.json' },
                ...credentialEnv(p),
              ],
              ports: [{ name: 'metrics', containerPort: 9090 }],
              readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' } },
              livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' } },
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [{ name: 'config', mountPath: '/etc/weir', readOnly: true }],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: processorName(p.name) } }],
        },
      },
    },
  };
}

export function desiredService(p: PipelineInput): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(p),
    // Headless: Prometheus scrapes each processor through the endpoints; a cluster IP
    // would be allocated for nothing.
    spec: {
      clusterIP: 'None',
      selector: { 'weir.dev/pipeline': p.name, 'app.kubernetes.io/name': 'weir-processor' },
      ports: [{ name: 'metrics', port: 9090, targetPort: 'metrics' }],
    },
  };
}

/** Scales on consumer lag per replica (an external metric) and on CPU. */
export function desiredAutoscaler(p: PipelineInput): V2HorizontalPodAutoscaler {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta(p),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: processorName(p.name) },
      minReplicas: p.spec.scaling.minReplicas,
      maxReplicas: p.spec.scaling.maxReplicas,
      metrics: [
        {
          type: 'External',
          external: {
            metric: {
              name: 'weir_consumer_lag',
              selector: { matchLabels: { consumer_group: consumerGroup(p.namespace, p.name) } },
            },
            target: { type: 'AverageValue', averageValue: String(p.spec.scaling.targetLagPerReplica) },
          },
        },
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } },
      ],
    },
  };
}

/** Keeps one processor up through voluntary disruptions when there is more than one. */
export function desiredDisruptionBudget(p: PipelineInput): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(p),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: { 'weir.dev/pipeline': p.name, 'app.kubernetes.io/name': 'weir-processor' } },
    },
  };
}
