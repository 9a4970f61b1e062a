/**
 * The Weir operator. Configuration comes from flags, then WEIR_* environment variables,
 * then defaults; the cluster from KUBECONFIG or the in-cluster service account.
 *
 *   node operator/main.ts [--leader-elect=false] [--concurrency 8] [--health-port 8080] ...
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../crds/kind-definition.ts';
import { systemClock } from '../lib/clock/clock.ts';
import { APPLIED_AT_ANNOTATION, ChildApplier, HASH_ANNOTATION } from '../lib/controller/child-applier.ts';
import { changedBeyondStatus, Controller } from '../lib/controller/controller.ts';
import { createControllerMetrics } from '../lib/controller/controller-metrics.ts';
import { Manager } from '../lib/controller/manager.ts';
import { keyOf, type Reconciler } from '../lib/controller/reconcile.ts';
import { createWorkQueueMetrics } from '../lib/controller/work-queue-metrics.ts';
import { EventRecorder } from '../lib/kube/event-recorder.ts';
import { Informer } from '../lib/kube/informer.ts';
import { KubeClient } from '../lib/kube/kube-client.ts';
import { loadKubeConfig } from '../lib/kube/kube-config.ts';
import { projectMetadata } from '../lib/kube/metadata-projection.ts';
import { GATEWAY_LEASE_LABEL, type GatewayLease } from '../lib/ratelimit/applied-policies.ts';
import { createLogger, type Logger } from '../lib/observability/logger.ts';
import { createRegistry } from '../lib/observability/metrics.ts';
import {
  CREDENTIALS_SECRET,
  DEFAULT_PLATFORM_NAMESPACE,
  MANAGED_BY,
  TENANT_LABEL,
  tenantNamespace,
} from '../lib/platform/tenant-names.ts';
import { FlinkClients } from './flink/flink-clients.ts';
import { flinkStatusChanged, topicsReadyChanged } from './flink/flink-workload.ts';
import { FlinkReconciler } from './flink/reconciler.ts';
import { KafkaAdmins } from './pipeline/kafka-admins.ts';
import { PipelineReconciler, type PipelineObject } from './pipeline/reconciler.ts';
import { isGatewayLease } from './rate-limit-policy/policy-status.ts';
import { RateLimitPolicyReconciler, type RateLimitPolicyObject } from './rate-limit-policy/reconciler.ts';
import { RegionReconciler } from './region/reconciler.ts';
import { LiveRegionProber } from './region/region-probes.ts';
import { RegionBackends, type RegionObject } from './tenant/region-backends.ts';
import { RegionSecrets } from './tenant/region-secrets.ts';
import { TenantReconciler, type TenantObject } from './tenant/reconciler.ts';

/** The operator's settings. */
export interface OperatorConfig {
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  identity: string;
  concurrency: number;
  healthPort: number;
  logLevel: string;
  resyncPeriodMs: number;
  finalizerTimeoutMs: number;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  processorImage: string;
  /** The namespace the platform's own components run in; no tenant may take it. */
  platformNamespace: string;
  /** How often each Region's backends are probed. */
  regionProbePeriodMs: number;
}

/** Reads flags and WEIR_* variables; unknown flags and bad numbers are errors that name the flag. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): OperatorConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      'leader-elect': { type: 'string' },
      'leader-election-namespace': { type: 'string' },
      'leader-election-id': { type: 'string' },
      identity: { type: 'string' },
      concurrency: { type: 'string' },
      'health-port': { type: 'string' },
      'log-level': { type: 'string' },
      'resync-period': { type: 'string' },
      'finalizer-timeout': { type: 'string' },
      'lease-duration': { type: 'string' },
      'renew-deadline': { type: 'string' },
      'retry-period': { type: 'string' },
      'processor-image': { type: 'string' },
      'platform-namespace': { type: 'string' },
      'region-probe-period': { type: 'string' },
    },
  });
  const pick = (flag: keyof typeof values, variable: string, fallback: string): string =>
    values[flag] ?? env[variable] ?? fallback;
  const int = (flag: keyof typeof values, variable: string, fallback: string, min: number): number => {
    const raw = pick(flag, variable, fallback);
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${flag} (${variable}) must be an integer of at least ${min}, got '${raw}'`);
    return n;
  };
  const seconds = (flag: keyof typeof values, variable: string, fallback: string): number =>
    int(flag, variable, fallback, 1) * 1000;
  const leaderElect = pick('leader-elect', 'WEIR_LEADER_ELECT', 'true');
  if (leaderElect !== 'true' && leaderElect !== 'false')
    throw new Error(`--leader-elect (WEIR_LEADER_ELECT) must be true or false, got '${leaderElect}'`);
  return {
    leaderElect: leaderElect === 'true',
    leaderElectionNamespace: pick(
      'leader-election-namespace',
      'WEIR_LEADER_ELECTION_NAMESPACE',
      env.POD_NAMESPACE ?? DEFAULT_PLATFORM_NAMESPACE,
    ),
    leaderElectionId: pick('leader-election-id', 'WEIR_LEADER_ELECTION_ID', 'weir-operator'),
    identity: pick('identity', 'WEIR_IDENTITY', `${env.POD_NAME ?? hostname()}_${randomBytes(4).toString('hex')}`),
    concurrency: int('concurrency', 'WEIR_CONCURRENCY', '8', 1),
    healthPort: int('health-port', 'WEIR_HEALTH_PORT', '8080', 0),
    logLevel: pick('log-level', 'WEIR_LOG_LEVEL', 'info'),
    resyncPeriodMs: seconds('resync-period', 'WEIR_RESYNC_PERIOD_SECONDS', '600'),
    finalizerTimeoutMs: seconds('finalizer-timeout', 'WEIR_FINALIZER_TIMEOUT_SECONDS', '3600'),
    leaseDurationMs: seconds('lease-duration', 'WEIR_LEASE_DURATION_SECONDS', '15'),
    renewDeadlineMs: seconds('renew-deadline', 'WEIR_RENEW_DEADLINE_SECONDS', '10'),
    retryPeriodMs: seconds('retry-period', 'WEIR_RETRY_PERIOD_SECONDS', '2'),
    processorImage: pick('processor-image', 'WEIR_PROCESSOR_IMAGE', 'ghcr.io/weir-dev/weir:0.1.0'),
    platformNamespace: pick(
      'platform-namespace',
      'WEIR_PLATFORM_NAMESPACE',
      env.POD_NAMESPACE ?? DEFAULT_PLATFORM_NAMESPACE,
    ),
    regionProbePeriodMs: seconds('region-probe-period', 'WEIR_REGION_PROBE_PERIOD_SECONDS', '30'),
  };
}

/** The collections the operator watches: its own kinds, and the kinds of the children it writes. */
const WEIR = `/apis/${GROUP}/${VERSION}`;
const CHILDREN = {
  Namespace: '/api/v1/namespaces',
  ResourceQuota: '/api/v1/resourcequotas',
  LimitRange: '/api/v1/limitranges',
  NetworkPolicy: '/apis/networking.k8s.io/v1/networkpolicies',
  Role: '/apis/rbac.authorization.k8s.io/v1/roles',
  RoleBinding: '/apis/rbac.authorization.k8s.io/v1/rolebindings',
  Secret: '/api/v1/secrets',
  ConfigMap: '/api/v1/configmaps',
  Service: '/api/v1/services',
  Deployment: '/apis/apps/v1/deployments',
  HorizontalPodAutoscaler: '/apis/autoscaling/v2/horizontalpodautoscalers',
  PodDisruptionBudget: '/apis/policy/v1/poddisruptionbudgets',
} as const;

/** Builds the operator's manager for a cluster. */
export function buildOperator(config: OperatorConfig, kubeConfig: KubeConfig, log: Logger): Manager {
  const registry = createRegistry();
  const clock = systemClock;
  const client = new KubeClient(kubeConfig, { fieldManager: MANAGED_BY });
  const managed = `app.kubernetes.io/managed-by=${MANAGED_BY}`;
  const informer = <T extends KubernetesObject>(path: string, labelSelector?: string, fieldSelector?: string) =>
    new Informer<T>({
      client,
      path,
      labelSelector,
      fieldSelector,
      resyncPeriodMs: config.resyncPeriodMs,
      clock,
      log,
      // Owned objects are the operator's own output: it reads back only their metadata.
      transform: labelSelector ? projectMetadata<T>([HASH_ANNOTATION, APPLIED_AT_ANNOTATION]) : undefined,
    });

  const tenants = informer<TenantObject>(`${WEIR}/tenants`);
  const regions = informer<KubernetesObject & RegionObject>(`${WEIR}/regions`);
  const pipelines = informer<PipelineObject>(`${WEIR}/pipelines`);
  const policies = informer<RateLimitPolicyObject>(`${WEIR}/ratelimitpolicies`);
  // The gateways' own Leases, in which they report the policies they apply; kept whole, not projected.
  const gatewayLeases = new Informer<KubernetesObject & GatewayLease>({
    client,
    path: `/apis/coordination.k8s.io/v1/namespaces/${config.platformNamespace}/leases`,
    labelSelector: `${GATEWAY_LEASE_LABEL}=true`,
    resyncPeriodMs: config.resyncPeriodMs,
    clock,
    log,
  });
  // The operator may read only the one Secret it writes in each tenant namespace: it watches that name alone.
  const selectors: Record<string, string | undefined> = { Secret: `metadata.name=${CREDENTIALS_SECRET}` };
  const children = Object.fromEntries(
    Object.entries(CHILDREN).map(([kind, path]) => [kind, informer(path, managed, selectors[kind])]),
  );
  const childCache = {
    get: (kind: string, namespace: string, name: string) =>
      children[kind]?.get(namespace ? `${namespace}/${name}` : name),
  };
  // Children found unchanged are applied again once per re-sync, which reverts edits.
  const childApplier = new ChildApplier({ client, children: childCache, clock, refreshMs: config.resyncPeriodMs });
  const events = new EventRecorder({ client, component: MANAGED_BY, instance: config.identity, clock, log });
  const secrets = new RegionSecrets({ client, platformNamespace: config.platformNamespace, clock });
  const backends = new RegionBackends({ secrets, log });
  const kafka = new KafkaAdmins({ secrets, log });
  const controllerMetrics = createControllerMetrics(registry);
  const queueMetrics = createWorkQueueMetrics(registry);
  const controller = (name: string, reconciler: Reconciler) =>
    new Controller({
      name,
      reconciler,
      concurrency: config.concurrency,
      clock,
      log,
      metrics: controllerMetrics,
      queueMetrics,
    });

  const tenantController = controller(
    'tenant',
    new TenantReconciler({
      client,
      tenants,
      regions,
      pipelines,
      children: childCache,
      childApplier,
      backends,
      kafkaUsers: kafka,
      events,
      clock,
      log,
      platformNamespace: config.platformNamespace,
      finalizerTimeoutMs: config.finalizerTimeoutMs,
    }),
  )
    .watchPrimary(tenants)
    .watch(regions, () => tenants.list().map((t) => t.metadata!.name!))
    // A deleted tenant waits for its pipelines to go.
    .watch(pipelines, (p) => tenantsOfNamespace(tenants.list(), p.metadata?.namespace));
  const pipelineController = controller(
    'pipeline',
    new PipelineReconciler({
      client,
      pipelines,
      tenants,
      regions,
      children: childCache,
      childApplier,
      kafka,
      events,
      clock,
      log,
      processorImage: config.processorImage,
      platformNamespace: config.platformNamespace,
      finalizerTimeoutMs: config.finalizerTimeoutMs,
    }),
  )
    .watchPrimary(pipelines)
    .watch(tenants, (t) =>
      pipelines
        .list()
        .filter((p) => p.metadata?.namespace === tenantNamespace(t.metadata!.name!, t.spec))
        .map((p) => keyOf(p)),
    )
    .watch(regions, () => pipelines.list().map((p) => keyOf(p)));
  const regionController = controller(
    'region',
    new RegionReconciler({
      client,
      regions,
      prober: new LiveRegionProber({ backends, kafka, clock }),
      events,
      clock,
      probePeriodMs: config.regionProbePeriodMs,
    }),
  )
    .watchPrimary(regions)
    // Whether a Region is the only default depends on the others.
    .watch(regions, () => regions.list().map((r) => r.metadata!.name!), changedBeyondStatus);
  const policyController = controller(
    'rate-limit-policy',
    new RateLimitPolicyReconciler({ client, policies, leases: gatewayLeases, clock }),
  )
    .watchPrimary(policies)
    // A policy's conflicts depend on the other policies of its namespace.
    .watch(
      policies,
      (p) =>
        policies
          .list()
          .filter((o) => o.metadata?.namespace === p.metadata?.namespace)
          .map((o) => keyOf(o)),
      changedBeyondStatus,
    )
    .watch(gatewayLeases, (l) => (isGatewayLease(l) ? policies.list().map((p) => keyOf(p)) : []));
  // Flink pipelines' jobs, written with a field manager of their own; the Pipeline
  // controller's Ready follows their FlinkJobReady.
  pipelineController.watch(pipelines, (p) => [keyOf(p)], flinkStatusChanged);
  const flinkController = controller(
    'flink',
    new FlinkReconciler({
      client: new KubeClient(kubeConfig, { fieldManager: `${MANAGED_BY}-flink` }),
      pipelines,
      tenants,
      regions,
      clients: new FlinkClients(),
      events,
      clock,
      log,
      finalizerTimeoutMs: config.finalizerTimeoutMs,
    }),
  )
    .watch(
      pipelines,
      (p) => [keyOf(p)],
      (obj, old) => changedBeyondStatus(obj, old) || topicsReadyChanged(obj, old),
    )
    .watch(regions, () =>
      pipelines
        .list()
        .filter((p) => p.spec.engine === 'Flink')
        .map((p) => keyOf(p)),
    );
  for (const child of Object.values(children)) {
    tenantController.watch(child, (obj) => {
      const tenant = obj.metadata?.labels?.[TENANT_LABEL];
      return tenant ? [tenant] : [];
    });
    pipelineController.watch(child, (obj) => {
      const pipeline = obj.metadata?.labels?.['weir.dev/pipeline'];
      return pipeline && obj.metadata?.namespace ? [`${obj.metadata.namespace}/${pipeline}`] : [];
    });
  }

  return new Manager({
    client,
    registry,
    log,
    clock,
    healthPort: config.healthPort,
    leaderElection: config.leaderElect
      ? {
          namespace: config.leaderElectionNamespace,
          name: config.leaderElectionId,
          identity: config.identity,
          leaseDurationMs: config.leaseDurationMs,
          renewDeadlineMs: config.renewDeadlineMs,
          retryPeriodMs: config.retryPeriodMs,
        }
      : undefined,
    informers: [tenants, regions, pipelines, policies, gatewayLeases, ...Object.values(children)],
    controllers: [tenantController, pipelineController, regionController, policyController, flinkController],
    onShutdown: async () => {
      await backends.close();
      await kafka.close();
    },
  });
}

/** The tenants whose namespace is `namespace`. */
function tenantsOfNamespace(tenants: readonly TenantObject[], namespace: string | undefined): string[] {
  return tenants.filter((t) => tenantNamespace(t.metadata!.name!, t.spec) === namespace).map((t) => t.metadata!.name!);
}

async function main(): Promise<number> {
  const config = loadConfig(process.argv.slice(2), process.env);
  const log = createLogger({ component: 'weir-operator', level: config.logLevel, base: { identity: config.identity } });
  const kubeConfig = loadKubeConfig();
  const manager = buildOperator(config, kubeConfig, log);
  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'shutting down');
    void manager.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await manager.start();
  log.info({ healthPort: manager.healthPort, leaderElection: config.leaderElect }, 'operator started');
  const exit = await manager.finished;
  return exit === 'stopped' ? 0 : 1;
}

if (import.meta.main) {
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(`weir-operator: ${err.message}`);
      process.exit(1);
    },
  );
}
