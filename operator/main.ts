/**
 * The Weir operator. Configuration comes from flags, then WEIR_* environment variables,
 * then defaults; the cluster from KUBECONFIG or the in-cluster service account.
 *
 *   node operator/main.ts [--leader-elect=false] [--concurrency 8] [--health-port 8080] ...
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { createLogger, type Logger } from '../lib/observability/logger.ts';
import { createRegistry } from '../lib/observability/metrics.ts';
import { GROUP, VERSION } from '../crds/kind-definition.ts';
import { ChildApplier, HASH_ANNOTATION } from '../lib/controller/child-applier.ts';
import { Applier } from '../lib/kube/apply.ts';
import { systemClock } from '../lib/clock/clock.ts';
import { changedBeyondStatus, Controller } from '../lib/controller/controller.ts';
import { createControllerMetrics } from '../lib/controller/controller-metrics.ts';
import { EventRecorder } from '../lib/kube/event-recorder.ts';
import { Informer } from '../lib/kube/informer.ts';
import { loadKubeConfig } from '../lib/kube/kube-config.ts';
import { Manager } from '../lib/controller/manager.ts';
import { projectMetadata } from '../lib/kube/metadata-projection.ts';
import { createWorkQueueMetrics } from '../lib/controller/work-queue-metrics.ts';
import { RegionBackends, type RegionObject } from './tenant/region-backends.ts';
import { TenantReconciler, type TenantObject } from './tenant/reconciler.ts';
import { MANAGED_BY, TENANT_LABEL, tenantNamespace } from '../lib/platform/tenant-names.ts';
import { KafkaAdmins, PipelineReconciler, type PipelineObject } from './pipeline/reconciler.ts';
import { keyOf } from '../lib/controller/reconcile.ts';
import { FlinkClients } from './flink/flink-clients.ts';
import { flinkStatusChanged, topicsReadyChanged } from './flink/flink-workload.ts';
import { FlinkReconciler } from './flink/reconciler.ts';

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
      env.POD_NAMESPACE ?? 'weir-system',
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
  };
}

/** Builds the operator's manager for a cluster. */
export function buildOperator(
  config: OperatorConfig,
  kubeConfig: ReturnType<typeof loadKubeConfig>,
  log: Logger,
): Manager {
  const registry = createRegistry();
  const clock = systemClock;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const networking = kubeConfig.makeApiClient(NetworkingV1Api);
  const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const autoscaling = kubeConfig.makeApiClient(AutoscalingV2Api);
  const policy = kubeConfig.makeApiClient(PolicyV1Api);
  const managed = `app.kubernetes.io/managed-by=${MANAGED_BY}`;
  const informer = <T extends KubernetesObject>(path: string, list: () => Promise<unknown>, labelSelector?: string) =>
    new Informer<T>({
      kubeConfig,
      path,
      list: list as () => Promise<KubernetesListObject<T>>,
      labelSelector,
      resyncPeriodMs: config.resyncPeriodMs,
      clock,
      log: log.child({ informer: path }),
      // Owned objects are the operator's own output: it reads back only their metadata.
      transform: labelSelector ? projectMetadata<T>([HASH_ANNOTATION]) : undefined,
    });

  const tenants = informer<TenantObject>(`/apis/${GROUP}/${VERSION}/tenants`, () =>
    custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'tenants' }),
  );
  const regions = informer<KubernetesObject & RegionObject>(`/apis/${GROUP}/${VERSION}/regions`, () =>
    custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'regions' }),
  );
  const children: Record<string, Informer<KubernetesObject>> = {
    Namespace: informer('/api/v1/namespaces', () => core.listNamespace({ labelSelector: managed }), managed),
    ResourceQuota: informer(
      '/api/v1/resourcequotas',
      () => core.listResourceQuotaForAllNamespaces({ labelSelector: managed }),
      managed,
    ),
    LimitRange: informer(
      '/api/v1/limitranges',
      () => core.listLimitRangeForAllNamespaces({ labelSelector: managed }),
      managed,
    ),
    NetworkPolicy: informer(
      '/apis/networking.k8s.io/v1/networkpolicies',
      () => networking.listNetworkPolicyForAllNamespaces({ labelSelector: managed }),
      managed,
    ),
    Role: informer(
      '/apis/rbac.authorization.k8s.io/v1/roles',
      () => rbac.listRoleForAllNamespaces({ labelSelector: managed }),
      managed,
    ),
    RoleBinding: informer(
      '/apis/rbac.authorization.k8s.io/v1/rolebindings',
      () => rbac.listRoleBindingForAllNamespaces({ labelSelector: managed }),
      managed,
    ),
    Secret: informer('/api/v1/secrets', () => core.listSecretForAllNamespaces({ labelSelector: managed }), managed),
    ConfigMap: informer(
      '/api/v1/configmaps',
      () => core.listConfigMapForAllNamespaces({ labelSelector: managed }),
      managed,
    ),
    Service: informer('/api/v1/services', () => core.listServiceForAllNamespaces({ labelSelector: managed }), managed),
    Deployment: informer(
      '/apis/apps/v1/deployments',
      () => apps.listDeploymentForAllNamespaces({ labelSelector: managed }),
      managed,
    ),
    HorizontalPodAutoscaler: informer(
      '/apis/autoscaling/v2/horizontalpodautoscalers',
      () => autoscaling.listHorizontalPodAutoscalerForAllNamespaces({ labelSelector: managed }),
      managed,
    ),
    PodDisruptionBudget: informer(
      '/apis/policy/v1/poddisruptionbudgets',
      () => policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector: managed }),
      managed,
    ),
  };
  const pipelines = informer<PipelineObject>(`/apis/${GROUP}/${VERSION}/pipelines`, () =>
    custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, resourcePlural: 'pipelines' }),
  );
  const childCache = {
    get: (kind: string, namespace: string, name: string) =>
      children[kind]?.get(namespace ? `${namespace}/${name}` : name),
    remember: (obj: KubernetesObject) => children[obj.kind ?? '']?.remember(obj),
  };

  const backends = new RegionBackends({ kubeConfig, log });
  const applier = new Applier({ kubeConfig, fieldManager: 'weir-operator' });
  // Children found unchanged are applied again once per re-sync, which reverts edits.
  const childApplier = new ChildApplier({ applier, children: childCache, clock, refreshMs: config.resyncPeriodMs });
  for (const child of Object.values(children)) child.on('delete', (obj) => childApplier.forget(obj));
  const events = new EventRecorder({ kubeConfig, component: 'weir-operator', instance: config.identity, clock, log });
  const reconciler = new TenantReconciler({
    kubeConfig,
    applier,
    tenants,
    regions,
    children: childCache,
    childApplier,
    backends,
    events,
    clock,
    log,
    finalizerTimeoutMs: config.finalizerTimeoutMs,
    verifyPeriodMs: config.resyncPeriodMs,
  });
  const controllerMetrics = createControllerMetrics(registry);
  const queueMetrics = createWorkQueueMetrics(registry);
  const controller = new Controller({
    name: 'tenant',
    reconciler,
    concurrency: config.concurrency,
    clock,
    log,
    metrics: controllerMetrics,
    queueMetrics,
  })
    .watchPrimary(tenants)
    .watch(regions, () => tenants.list().map((t) => t.metadata!.name!));
  for (const child of Object.values(children)) {
    controller.watch(child, (obj) => {
      const tenant = obj.metadata?.labels?.[TENANT_LABEL];
      return tenant ? [tenant] : [];
    });
  }

  const kafka = new KafkaAdmins(log);
  const pipelineController = new Controller({
    name: 'pipeline',
    reconciler: new PipelineReconciler({
      applier,
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
      finalizerTimeoutMs: config.finalizerTimeoutMs,
    }),
    concurrency: config.concurrency,
    clock,
    log,
    metrics: controllerMetrics,
    queueMetrics,
  })
    .watchPrimary(pipelines)
    .watch(tenants, (t) =>
      pipelines
        .list()
        .filter((p) => p.metadata?.namespace === tenantNamespace(t.metadata!.name!, t.spec))
        .map((p) => keyOf(p)),
    )
    .watch(regions, () => pipelines.list().map((p) => keyOf(p)));
  for (const child of Object.values(children)) {
    pipelineController.watch(child, (obj) => {
      const pipeline = obj.metadata?.labels?.['weir.dev/pipeline'];
      return pipeline && obj.metadata?.namespace ? [`${obj.metadata.namespace}/${pipeline}`] : [];
    });
  }

  // Flink pipelines' jobs. The Pipeline controller's Ready follows their FlinkJobReady.
  pipelineController.watch(pipelines, (p) => [keyOf(p)], flinkStatusChanged);
  const flinkController = new Controller({
    name: 'flink',
    reconciler: new FlinkReconciler({
      applier: new Applier({ kubeConfig, fieldManager: 'weir-operator-flink' }),
      pipelines,
      tenants,
      regions,
      clients: new FlinkClients(),
      events,
      clock,
      log,
      finalizerTimeoutMs: config.finalizerTimeoutMs,
    }),
    concurrency: config.concurrency,
    clock,
    log,
    metrics: controllerMetrics,
    queueMetrics,
  })
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

  return new Manager({
    kubeConfig,
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
    informers: [tenants, regions, pipelines, ...Object.values(children)],
    controllers: [controller, pipelineController, flinkController],
    onShutdown: async () => {
      await backends.close();
      await kafka.close();
    },
  });
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
