/**
 * Benchmark: N Pipelines (4 topics each) applied at once until all report TopicsReady,
 * against creating the same 4N topics with raw kafkajs admin calls, in the same run (the
 * operator uses @platformatic/kafka; bench/topic-admin.ts compares the two). Run it with
 * `npm run bench:pipelines` (inside the local environment, without its process node).
 * Pipelines are measured to TopicsReady, not Ready: five hundred processors, one Node.js
 * process each, do not fit on the machine this runs on, so their pods stay Pending; the
 * Deployments, ReplicaSets, pods and autoscalers are still created and cost the API server
 * and controller manager what they cost.
 *
 *   node bench/pipelines-to-topics.ts [--pipelines 500] [--concurrency 32]
 */
import { parseArgs } from 'node:util';
import { apiserverRequests, requestsPerItem, untilControllerManagerWatches } from './apiserver-requests.ts';
import { countCondition } from './condition-count.ts';
import { cpuBetween, cpuByProgram } from './cpu-by-program.ts';
import { pool } from './pool.ts';
import { sumOf } from './prometheus-text.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import kafkajs from 'kafkajs';
import { PipelineSpec } from '../crds/pipeline.ts';
import { applyWeirObject, connect } from '../e2e/cluster.ts';
import { eventually } from '../e2e/eventually.ts';
import { REGION, setUpPlatform, startOperator } from '../e2e/platform.ts';
import { desiredTopics } from '../operator/pipeline/desired-topics.ts';

const { values } = parseArgs({
  options: { pipelines: { type: 'string', default: '500' }, concurrency: { type: 'string', default: '32' } },
});
const N = Number(values.pipelines);
const C = Number(values.concurrency);
const run = Date.now().toString(36);

const { clients, operatorKube } = await setUpPlatform();
const kafka = new kafkajs.Kafka({
  clientId: 'weir-bench',
  brokers: [process.env.WEIR_KAFKA_BROKERS!],
  logLevel: kafkajs.logLevel.NOTHING,
});

// Baseline: the same topics, created with raw admin calls at the same concurrency.
const admin = kafka.admin();
await admin.connect();
const spec = PipelineSpec.parse({ source: { partitions: 1, retention: '24h' } });
/**
 * Creates topics and waits for their leaders. A busy broker may not know a topic it has just
 * created when kafkajs first asks for its leaders, and kafkajs gives up on that: then ask again.
 */
async function createAndWait(
  topics: {
    topic: string;
    numPartitions: number;
    replicationFactor: number;
    configEntries: { name: string; value: string }[];
  }[],
): Promise<void> {
  try {
    await admin.createTopics({ waitForLeaders: true, topics });
    return;
  } catch (err) {
    if ((err as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw err;
  }
  for (;;) {
    await sleep(100);
    const metadata = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) }).catch(() => undefined);
    if (metadata?.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
  }
}

const rawCpuBefore = cpuByProgram();
let t0 = performance.now();
await pool(N, C, (i) =>
  createAndWait(
    [...desiredTopics(`raw-${run}`, `p${i}`, spec).values()].map((t) => ({
      topic: t.name,
      numPartitions: t.partitions,
      replicationFactor: t.replicationFactor,
      configEntries: Object.entries(t.config).map(([name, value]) => ({ name, value })),
    })),
  ),
);
const rawSeconds = (performance.now() - t0) / 1000;
const rawCpu = cpuBetween(rawCpuBefore, cpuByProgram());
await admin.disconnect();
console.error(
  `  controller manager watched Tenants and Pipelines after ${(await untilControllerManagerWatches('weir.dev', ['tenants', 'pipelines'])).toFixed(1)} s more`,
);

const namespace = `tenant-bench${run}`;
await applyWeirObject(clients.custom, {
  apiVersion: 'weir.dev/v1alpha1',
  kind: 'Tenant',
  metadata: { name: `bench${run}` },
  // Sized for N processors (100m CPU and up to 512Mi each), as a tenant running N pipelines would be.
  spec: {
    owners: [{ kind: 'User', name: 'bench' }],
    regions: [REGION],
    quotas: {
      pipelines: N + 1,
      partitions: 4 * (N + 1),
      cpu: String(Math.ceil((N + 1) / 10)),
      memory: `${(N + 1) * 512}Mi`,
    },
  },
} as never);
const operator = await startOperator(operatorKube, 'bench', [
  '--leader-elect=false',
  '--concurrency=32',
  '--log-level=warn',
  '--resync-period=600',
]);
await operator.ready();
for (;;) {
  const t = (await clients.custom.getClusterCustomObject({
    group: 'weir.dev',
    version: 'v1alpha1',
    plural: 'tenants',
    name: `bench${run}`,
  })) as { status?: { phase?: string } };
  if (t.status?.phase === 'Ready') break;
  await sleep(500);
}

// The API server's quota admission refuses Pipelines until the quota controller has
// counted them once; a probe Pipeline waits for that outside the measured time.
await eventually(
  () =>
    applyWeirObject(clients.custom, {
      apiVersion: 'weir.dev/v1alpha1',
      kind: 'Pipeline',
      metadata: { name: 'probe', namespace },
      spec: { source: { partitions: 1 } },
    } as never),
  120_000,
  1000,
);

const topicsReady = await countCondition({
  kubeConfig: connect().kc,
  path: `/apis/weir.dev/v1alpha1/namespaces/${namespace}/pipelines`,
  type: 'TopicsReady',
  n: N,
  counts: (p) => p.metadata?.name !== 'probe',
});

// kubectl, which reads the API server's metrics, must be done before the CPU is read: the
// CPU of children the bench has reaped counts as its own.
const requestsBefore = apiserverRequests();
const weirCpuBefore = cpuByProgram();
t0 = performance.now();
await pool(N, C, (i) =>
  applyWeirObject(clients.custom, {
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'Pipeline',
    metadata: { name: `p${i}`, namespace },
    spec: { source: { partitions: 1, retention: '24h' } },
  } as never),
);
const weirSeconds = ((await topicsReady.reached) - t0) / 1000;
const weirCpu = cpuBetween(weirCpuBefore, cpuByProgram());
const requestsAfter = apiserverRequests();
await topicsReady.informer.stop();
const metricsText = await operator.metrics();
await operator.stop();

console.log(
  `\nPipelines to TopicsReady against raw topic creation (${N} pipelines, ${4 * N} topics, concurrency ${C}, operator concurrency 32)`,
);
console.log(
  `  raw: createTopics of the same topics   ${rawSeconds.toFixed(2).padStart(8)} s  ${((4 * N) / rawSeconds).toFixed(1).padStart(7)} topics/s`,
);
console.log(
  `  Weir: pipelines to TopicsReady          ${weirSeconds.toFixed(2).padStart(8)} s  ${((4 * N) / weirSeconds).toFixed(1).padStart(7)} topics/s`,
);
console.log(`  ratio (Weir rate / raw rate): ${(rawSeconds / weirSeconds).toFixed(3)}  (goal ≥ 0.5)`);
console.log(
  `  pipeline reconciles: ${sumOf(metricsText, 'controller_runtime_reconcile_total', 'controller="pipeline"')}, of which ${sumOf(metricsText, 'controller_runtime_reconcile_errors_total', 'controller="pipeline"')} failed and were retried`,
);
console.log(`  CPU used during the raw creates: ${rawCpu}`);
console.log(`  CPU used while Weir worked:      ${weirCpu}`);
console.log(
  `  API requests per pipeline while Weir worked (bench's own apply and informer and the controller manager's work included): ${requestsPerItem(requestsBefore, requestsAfter, N)}`,
);
process.exit(0);
