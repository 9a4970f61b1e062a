/**
 * Which namespaces a Tenant may take: one that does not exist yet, or one already labelled
 * as its own. The operator's namespace, the system namespaces (refused at admission too) and
 * any namespace another tenant owns or nobody labelled are refused, and nothing in them is
 * touched.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ChildCache } from '../../lib/controller/child-applier.ts';
import type { KubeClient } from '../../lib/kube/kube-client.ts';
import { TENANT_LABEL } from '../../lib/platform/tenant-names.ts';

/** Namespaces no tenant may take, whatever their labels. */
export function isSystemNamespace(namespace: string, platformNamespace: string): boolean {
  return namespace === platformNamespace || namespace === 'default' || namespace.startsWith('kube-');
}

/** Why `tenant` may not take `namespace`, given the namespace as it exists (or undefined if it does not). */
export function claimProblem(
  tenant: string,
  namespace: string,
  existing: KubernetesObject | undefined,
  platformNamespace: string,
): { reason: 'NamespaceNotAllowed' | 'NamespaceConflict'; message: string } | undefined {
  if (isSystemNamespace(namespace, platformNamespace))
    return {
      reason: 'NamespaceNotAllowed',
      message: `namespace ${namespace} belongs to the platform or the cluster and cannot be a tenant's`,
    };
  if (!existing) return undefined;
  const owner = existing.metadata?.labels?.[TENANT_LABEL];
  if (owner === tenant) return undefined;
  return {
    reason: 'NamespaceConflict',
    message: owner
      ? `namespace ${namespace} belongs to tenant ${owner}`
      : `namespace ${namespace} already exists and is not labelled ${TENANT_LABEL}=${tenant}; nothing in it was changed`,
  };
}

/**
 * The claim problem of a tenant's namespace. The namespace cache holds only namespaces the
 * operator manages, so one missing there is looked up in the API server — in its watch
 * cache, which serves the read without a round trip to etcd.
 */
export async function namespaceProblem(
  deps: { client: Pick<KubeClient, 'read'>; children: ChildCache; platformNamespace: string },
  tenant: string,
  namespace: string,
  signal?: AbortSignal,
) {
  if (isSystemNamespace(namespace, deps.platformNamespace))
    return claimProblem(tenant, namespace, undefined, deps.platformNamespace);
  const existing =
    deps.children.get('Namespace', '', namespace) ??
    (await deps.client.read(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
      { signal, cached: true },
    ));
  return claimProblem(tenant, namespace, existing, deps.platformNamespace);
}
