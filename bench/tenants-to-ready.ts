/**
 * Benchmark: N Tenants created at once until all are Ready, against the raw rate at which
 * the same API server takes the same objects — for each tenant, the Tenant itself (created
 * the same way on both sides) and the eight children the Tenant controller writes (built
 * by the same functions, with the same owner reference, labels and hash annotation,
 * through the operator's request path) — from one client at the same concurrency, in the
 * same run. The raw side does no Redis or Postgres work and writes no finalizer, status or
 * Event. Also reports reconcile p50/p99 from the operator's histogram and the operator's
 * heap per cached object. Run it with `npm run bench` (inside the local environment).
 *
 *   node bench/tenants-to-ready.ts [--tenants 1000] [--concurrency 32] [--operator-concurrency 32]
 *
 * With WEIR_BENCH_CPU_PROF=<dir> the operator writes a V8 CPU profile there when it stops.
 */
import { parseArgs } from 'node:util';
import { pool } from './pool.ts';
import type { KubernetesObject } from '@kubernetes/client-node';
import { TenantSpec } from '../crds/tenant.ts';
import {
  desiredCredentialsSecret,
  desiredLimitRange,
  desiredNamespace,
  desiredNetworkPolicies,
  desiredOwnerRole,
  desiredOwnerRoleBinding,
  desiredResourceQuota,
} from '../operator/tenant/desired-objects.ts';
import { credentialsData, newPassword } from '../operator/tenant/credentials.ts';
import { KubeClient } from '../lib/kube/kube-client.ts';
import { controllerReference } from '../lib/kube/owner-reference.ts';
import { withAppliedHash } from '../lib/controller/child-applier.ts';
import { apiserverRequests, requestsPerItem, untilControllerManagerWatches } from './apiserver-requests.ts';
import { countCondition } from './condition-count.ts';
import { cpuBetween, cpuByProgram } from './cpu-by-program.ts';
import { liveHeapBytes } from './live-heap.ts';
import { metric, quantile, sumOf } from './prometheus-text.ts';
import { MANAGED_BY } from '../lib/platform/tenant-names.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { applyWeirObject, connect, ensureNamespace, installCrds } from '../e2e/cluster.ts';
import { OperatorProcess } from '../e2e/operator-process.ts';
import { freePort } from '../hack/local-env/ports.ts';

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '32' },
    'operator-concurrency': { type: 'string', default: '32' },
  },
});
const N = Number(values.tenants);
const C = Number(values.concurrency);
const OPERATOR_CONCURRENCY = Number(values['operator-concurrency']);
const clients = connect();
const run = Date.now().toString(36);

await installCrds(clients);
console.error(
  `  controller manager watched Tenants and Pipelines after ${(await untilControllerManagerWatches('weir.dev', ['tenants', 'pipelines'])).toFixed(1)} s`,
);
await ensureNamespace(clients.core, 'weir-system');
const redis = new URL(process.env.WEIR_REDIS_URL!);
const postgres = new URL(process.env.WEIR_POSTGRES_URL!);
for (const [name, username, password] of [
  ['bench-redis', 'default', redis.password],
  ['bench-postgres', postgres.username, postgres.password],
] as const) {
  await clients.core.deleteNamespacedSecret({ namespace: 'weir-system', name }).catch(() => undefined);
  await clients.core.createNamespacedSecret({
    namespace: 'weir-system',
    body: {
      metadata: { name },
      stringData: { username: decodeURIComponent(username), password: decodeURIComponent(password) },
    },
  });
}
await applyWeirObject(clients.custom, {
  apiVersion: 'weir.dev/v1alpha1',
  kind: 'Region',
  metadata: { name: 'bench' },
  spec: {
    kafka: { bootstrapServers: [process.env.WEIR_KAFKA_BROKERS!] },
    redis: { endpoints: [redis.host], adminCredentialsSecretRef: { namespace: 'weir-system', name: 'bench-redis' } },
    postgres: {
      primary: postgres.host,
      database: 'postgres',
      adminCredentialsSecretRef: { namespace: 'weir-system', name: 'bench-postgres' },
    },
  },
} as never);

/** Creates a Tenant the way the Weir side does, as `kubectl create` would. */
function createTenant(name: string, labels?: Record<string, string>): Promise<unknown> {
  return clients.custom.createClusterCustomObject({
    group: 'weir.dev',
    version: 'v1alpha1',
    plural: 'tenants',
    body: {
      apiVersion: 'weir.dev/v1alpha1',
      kind: 'Tenant',
      metadata: { name, labels },
      spec: { owners: [{ kind: 'User', name: 'bench' }], regions: ['bench'] },
    },
  });
}
const RAW_LABEL = 'bench.weir.dev/raw';

// Baseline: the objects N tenants consist of, written straight to the API server: the
// Tenant itself, and its namespace and children as the controller writes them, through the
// operator's own request path (its KubeClient and field manager), so that neither side
// pays for a dearer client. Weir's children are owned by their Tenant; the raw Tenants go
// before Weir starts, so the raw children are owned by one object that stays, a ClusterRole
// without rules: the same kind of owner reference, which the API server, etcd and the
// garbage collector handle alike.
const writer = new KubeClient(clients.kc, { fieldManager: 'weir-operator' });
const ownerRole = await writer.create({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name: `weir-bench-raw-owner-${run}` },
} as KubernetesObject);
const owner = controllerReference(ownerRole);
const spec = TenantSpec.parse({ owners: [{ kind: 'User', name: 'bench' }] });
const rawRequestsBefore = apiserverRequests();
const rawCpuBefore = cpuByProgram();
let t0 = performance.now();
await pool(N, C, async (i) => {
  const name = `r${run}-${i}`;
  const namespace = `tenant-${name}`;
  const input = { name, spec, ownerReference: owner, platformNamespace: 'weir-system' };
  const secret = desiredCredentialsSecret(
    input,
    namespace,
    credentialsData(
      name,
      { redisEndpoint: redis.host, postgresEndpoint: postgres.host, database: 'postgres' },
      { redis: newPassword(), postgres: newPassword() },
    ),
  );
  const children: KubernetesObject[] = [
    ...[
      desiredResourceQuota(input, namespace),
      desiredLimitRange(input, namespace),
      ...desiredNetworkPolicies(input, namespace),
      desiredOwnerRole(input, namespace),
      desiredOwnerRoleBinding(input, namespace),
    ].map((c) => withAppliedHash(c, Date.now())),
    withAppliedHash(secret, Date.now()),
  ];
  await createTenant(name, { [RAW_LABEL]: run });
  await writer.create(withAppliedHash(desiredNamespace(input, namespace), Date.now()));
  await Promise.all(children.map((c) => writer.create(c)));
});
const rawSeconds = (performance.now() - t0) / 1000;
const rawCpu = cpuBetween(rawCpuBefore, cpuByProgram());
const rawRequests = requestsPerItem(rawRequestsBefore, apiserverRequests(), N);
// No operator runs yet, so the raw Tenants have no finalizer: they go at once, before Weir starts.
await clients.custom.deleteCollectionClusterCustomObject({
  group: 'weir.dev',
  version: 'v1alpha1',
  plural: 'tenants',
  labelSelector: `${RAW_LABEL}=${run}`,
});

// The controller manager is still giving the raw namespaces their ServiceAccounts, root CA
// ConfigMaps and quota counts: let it finish, so that Weir starts on a cluster as quiet as
// the raw writes did.
const settleStart = performance.now();
for (;;) {
  const quotas = await clients.core.listResourceQuotaForAllNamespaces({
    labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY}`,
  });
  const counted = quotas.items.filter(
    (q) =>
      q.metadata?.namespace?.startsWith(`tenant-r${run}-`) &&
      Object.keys(q.spec?.hard ?? {}).every((k) => q.status?.used?.[k] !== undefined),
  ).length;
  if (counted >= N) break;
  await sleep(1000);
}
console.error(
  `  controller manager settled the raw namespaces in ${((performance.now() - settleStart) / 1000).toFixed(1)} s`,
);

const inspectPort = await freePort();
const operator = new OperatorProcess('bench', {
  kubeconfig: process.env.KUBECONFIG!,
  namespace: 'weir-system',
  healthPort: await freePort(),
  args: ['--leader-elect=false', `--concurrency=${OPERATOR_CONCURRENCY}`, '--log-level=warn'],
  // The inspector lets the bench collect the operator's garbage before it weighs the heap.
  nodeOptions: [
    `--inspect=127.0.0.1:${inspectPort}`,
    ...(process.env.WEIR_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.WEIR_BENCH_CPU_PROF}`] : []),
  ],
});
await operator.ready();
const idleHeap = await liveHeapBytes(inspectPort);

const ready = await countCondition({
  kubeConfig: clients.kc,
  path: '/apis/weir.dev/v1alpha1/tenants',
  type: 'Ready',
  n: N,
  counts: (t) => t.metadata?.name?.startsWith(`b${run}-`) ?? false,
});
const requestsBefore = apiserverRequests();
const weirCpuBefore = cpuByProgram();
t0 = performance.now();
await pool(N, C, (i) => createTenant(`b${run}-${i}`));
// Progress on stderr, so a slow phase shows where it is.
const progress = setInterval(
  () =>
    process.stderr.write(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${ready.names.size} of ${N} Ready\n`),
  5000,
);
const weirSeconds = ((await ready.reached) - t0) / 1000;
clearInterval(progress);
// Where the time went: seconds from a tenant's creation until each condition last turned,
// as the status itself records it (whole seconds).
const stages = new Map<string, number[]>();
for (const t of ready.informer.list()) {
  if (!t.metadata?.name?.startsWith(`b${run}-`)) continue;
  const created = new Date(String(t.metadata.creationTimestamp)).getTime();
  for (const c of (t.status?.conditions ?? []) as { type: string; lastTransitionTime?: string }[]) {
    if (c.lastTransitionTime)
      stages.set(c.type, [...(stages.get(c.type) ?? []), (new Date(c.lastTransitionTime).getTime() - created) / 1000]);
  }
}
const pct = (values: number[], q: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * q))] ?? NaN;
const stageLine = [...stages]
  .sort(([, a], [, b]) => pct(a, 0.5) - pct(b, 0.5))
  .map(([type, v]) => `${type} p50 ${pct(v, 0.5)} s p90 ${pct(v, 0.9)} s`)
  .join(', ');
const weirCpu = cpuBetween(weirCpuBefore, cpuByProgram());
await ready.informer.stop();
const requestsAfter = apiserverRequests();
const loadedHeap = await liveHeapBytes(inspectPort);
const loaded = await operator.metrics();
await operator.stop();

const heapPerObject = (loadedHeap - idleHeap) / (N * 9);
const rows = [
  ['raw: the same objects written', `${N}`, `${rawSeconds.toFixed(2)} s`, `${(N / rawSeconds).toFixed(1)} /s`],
  ['Weir: tenants to Ready', `${N}`, `${weirSeconds.toFixed(2)} s`, `${(N / weirSeconds).toFixed(1)} /s`],
];
console.log(
  `\nTenants to Ready against writing the same ${N * 9} objects raw (client concurrency ${C}, operator concurrency ${OPERATOR_CONCURRENCY})`,
);
for (const r of rows)
  console.log(`  ${r[0]!.padEnd(30)} ${r[1]!.padStart(6)}  ${r[2]!.padStart(9)}  ${r[3]!.padStart(9)}`);
console.log(`  ratio (Weir rate / raw rate): ${(rawSeconds / weirSeconds).toFixed(3)}  (goal ≥ 0.5)`);
console.log(
  `  tenant reconciles: ${sumOf(loaded, 'controller_runtime_reconcile_total', 'controller="tenant"')}, of which ${sumOf(loaded, 'controller_runtime_reconcile_errors_total', 'controller="tenant"')} failed and were retried`,
);
console.log(
  `  reconcile p50 ${(quantile(loaded, 'controller_runtime_reconcile_time_seconds', 0.5) * 1000).toFixed(0)} ms, p99 ${(quantile(loaded, 'controller_runtime_reconcile_time_seconds', 0.99) * 1000).toFixed(0)} ms`,
);
console.log(
  `  operator live heap per cached object (tenant + 8 children, after a full collection): ${(heapPerObject / 1024).toFixed(2)} KiB; resident ${(metric(loaded, 'process_resident_memory_bytes') / 2 ** 20).toFixed(0)} MiB`,
);
console.log(`  CPU used during the raw writes: ${rawCpu}`);
console.log(`  CPU used while Weir worked:    ${weirCpu}`);
console.log(`  seconds from creation to each condition turning True: ${stageLine}`);
console.log(`  API requests per tenant during the raw writes: ${rawRequests}`);
console.log(
  `  API requests per tenant while Weir worked (bench's own create and informer included): ${requestsPerItem(requestsBefore, requestsAfter, N)}`,
);
process.exit(0);
