/**
 * Where the gateway's configuration comes from: informers on Tenants, Pipelines and
 * RateLimitPolicies (list and watch, nothing else: the gateway's RBAC is read-only), whose
 * changes rebuild the routing table at the end of the tick they arrive in, and single
 * ConfigMap reads for schemas kept in ConfigMaps. Every informer of the gateway is made in
 * this file.
 *
 * In a pod, the service account's token, CA and namespace are read from the directory
 * WEIR_SERVICE_ACCOUNT_DIR names (default the standard mount), so that the local
 * environment's process node — which rewrites paths in the environment, not in what a
 * program opens — can point the gateway at the volume it wrote.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../crds/kind-definition.ts';
import type { Clock } from '../../lib/clock/clock.ts';
import { Informer } from '../../lib/kube/informer.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import { loadKubeConfig, reuseConnections } from '../../lib/kube/kube-config.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import type { PolicyObject } from '../../lib/ratelimit/policy-set.ts';
import type { GatewayConfig } from './gateway-config.ts';
import type { PipelineObject, TenantObject } from './routing-table.ts';
import type { ConfigMapReader } from './schema-registry.ts';

/** The standard mount of a pod's service account. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The cluster from KUBECONFIG if set, else the pod's service account (from `dir`), else the defaults. */
export function gatewayKubeConfig(env: NodeJS.ProcessEnv): KubeConfig {
  const dir = env.WEIR_SERVICE_ACCOUNT_DIR || SERVICE_ACCOUNT_DIR;
  if (env.KUBECONFIG || !env.KUBERNETES_SERVICE_HOST || !existsSync(join(dir, 'token'))) return loadKubeConfig();
  const host = env.KUBERNETES_SERVICE_HOST.includes(':')
    ? `[${env.KUBERNETES_SERVICE_HOST}]`
    : env.KUBERNETES_SERVICE_HOST;
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(
    {
      name: 'in-cluster',
      server: `https://${host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`,
      caFile: join(dir, 'ca.crt'),
      skipTLSVerify: false,
    },
    // client-node reads a token file again when it changes, as projected tokens rotate.
    { name: 'service-account', authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } } },
  );
  return reuseConnections(kc);
}

/** The informers the gateway runs and the ConfigMap reader its schemas use. */
export interface ConfigWatch {
  readConfigMap: ConfigMapReader;
  /** Resolves once every informer has listed. */
  synced(signal?: AbortSignal): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

/** Informers on the three kinds, feeding `config`. */
export function watchConfig(options: {
  client: KubeClient;
  config: GatewayConfig;
  clock: Clock;
  log: Logger;
  resyncPeriodMs?: number;
}): ConfigWatch {
  const { client, config, clock, log } = options;
  const informer = <T extends KubernetesObject>(plural: string) =>
    new Informer<T>({
      client,
      path: `/apis/${GROUP}/${VERSION}/${plural}`,
      resyncPeriodMs: options.resyncPeriodMs ?? 0,
      clock,
      log,
    });
  const tenants = informer<KubernetesObject & TenantObject>('tenants');
  const pipelines = informer<KubernetesObject & PipelineObject>('pipelines');
  const policies = informer<KubernetesObject & PolicyObject>('ratelimitpolicies');
  const all = [tenants, pipelines, policies];
  const update = () => config.update(tenants.list(), pipelines.list(), policies.list());

  let scheduled = false;
  const rebuild = () => {
    if (scheduled || !all.every((i) => i.hasSynced)) return;
    scheduled = true;
    // Changes arriving together (a re-list, an apply of many objects) rebuild the table once.
    setImmediate(() => {
      scheduled = false;
      update();
    });
  };
  for (const i of all) for (const event of ['add', 'update', 'delete'] as const) i.on(event, rebuild);

  return {
    readConfigMap: (namespace, name) =>
      client.get<KubernetesObject & { data?: Record<string, string>; binaryData?: Record<string, string> }>(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(name)}`,
      ),
    async synced(signal) {
      await Promise.all(all.map((i) => i.waitForSync(signal)));
      update();
    },
    start: () => all.forEach((i) => i.start()),
    stop: async () => {
      await Promise.all(all.map((i) => i.stop()));
    },
  };
}
