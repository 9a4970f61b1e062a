/**
 * Writing the status of a resource the operator reconciles: through the status
 * subresource, and only when it differs from the status in the cache.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from './kube-client.ts';
import { sameJson } from './same-json.ts';

/** An object as cached, with the status it has there. */
export interface WithStatus<S> extends KubernetesObject {
  status?: S;
}

/**
 * Applies `status` to `cached`'s status subresource unless the cache already shows it;
 * resolves with whether it wrote. The comparison is the one way Weir's reconcilers skip a
 * status write that would change nothing: a reconcile that runs before the cache caught up
 * with the last write applies the same status again, which the API server stores as is.
 */
export async function applyStatusIfChanged<S>(client: KubeClient, cached: WithStatus<S>, status: S): Promise<boolean> {
  if (sameJson(status, cached.status)) return false;
  const { name, namespace } = cached.metadata ?? {};
  await client.apply(
    { apiVersion: cached.apiVersion, kind: cached.kind, metadata: { name, namespace }, status } as KubernetesObject,
    { subresource: 'status' },
  );
  return true;
}
