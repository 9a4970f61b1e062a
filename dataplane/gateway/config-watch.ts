/**
 * Where the gateway's configuration comes from: informers on Tenants, Pipelines and
 * RateLimitPolicies (list and watch, nothing else: the gateway's RBAC is read-only), whose
 * changes rebuild the routing table at the end of the tick they arrive in, and single
 * ConfigMap reads for schemas kept in ConfigMaps. Every informer of the gateway is made in
 * this file; the cluster it talks to comes from lib/kube/pod-kube-config.ts.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Clock } from '../../lib/clock/clock.ts';
import { InformerSet, weirInformer } from '../../lib/kube/informer-set.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import type { PolicyObject } from '../../lib/ratelimit/policy-set.ts';
import type { GatewayConfig } from './gateway-config.ts';
import type { PipelineObject, TenantObject } from './routing-table.ts';
import type { ConfigMapReader } from './schema-registry.ts';

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
    weirInformer<T>({ client, plural, clock, log, resyncPeriodMs: options.resyncPeriodMs });
  const tenants = informer<KubernetesObject & TenantObject>('tenants');
  const pipelines = informer<KubernetesObject & PipelineObject>('pipelines');
  const policies = informer<KubernetesObject & PolicyObject>('ratelimitpolicies');
  const set = new InformerSet([tenants, pipelines, policies], () =>
    config.update(tenants.list(), pipelines.list(), policies.list()),
  );

  return {
    readConfigMap: (namespace, name) =>
      client.get<KubernetesObject & { data?: Record<string, string>; binaryData?: Record<string, string> }>(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(name)}`,
      ),
    synced: (signal) => set.synced(signal),
    start: () => set.start(),
    stop: () => set.stop(),
  };
}
