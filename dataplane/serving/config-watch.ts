/**
 * Where serving's configuration comes from: informers on Tenants and Pipelines (list and
 * watch, nothing else: serving's RBAC is read-only), whose changes rebuild the serving table
 * at the end of the tick they arrive in.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Clock } from '../../lib/clock/clock.ts';
import { InformerSet, weirInformer } from '../../lib/kube/informer-set.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import type { Logger } from '../../lib/observability/logger.ts';
import type { PipelineObject, TenantObject } from '../../lib/platform/watched-objects.ts';
import type { ServingConfig } from './serving-config.ts';

/** Informers on Tenants and Pipelines, feeding `config`. */
export function watchServingConfig(options: {
  client: KubeClient;
  config: ServingConfig;
  clock: Clock;
  log: Logger;
}): InformerSet {
  const { client, config, clock, log } = options;
  const tenants = weirInformer<KubernetesObject & TenantObject>({ client, plural: 'tenants', clock, log });
  const pipelines = weirInformer<KubernetesObject & PipelineObject>({ client, plural: 'pipelines', clock, log });
  return new InformerSet([tenants, pipelines], () => config.update(tenants.list(), pipelines.list()));
}
