/**
 * What a controller keeps in its cache of objects it owns: identity, labels, the few
 * annotations it reads, owner references, and the little it reads back — a Secret's data,
 * a Deployment's replica count and availability, whether a ResourceQuota has been counted. Everything else of a child is the
 * controller's own output and is not read back, so it need not be held.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

/** An informer transform that keeps only metadata (and the annotations named). */
export function projectMetadata<T extends KubernetesObject>(keepAnnotations: readonly string[]): (obj: T) => T {
  return (obj) => {
    const m = obj.metadata ?? {};
    const annotations = Object.fromEntries(
      keepAnnotations.filter((a) => m.annotations?.[a] !== undefined).map((a) => [a, m.annotations![a]!]),
    );
    const projected: KubernetesObject & { data?: unknown; spec?: unknown; status?: unknown } = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      metadata: {
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resourceVersion: m.resourceVersion,
        deletionTimestamp: m.deletionTimestamp,
        labels: m.labels,
        annotations,
        ownerReferences: m.ownerReferences,
      },
    };
    if (obj.kind === 'Secret') projected.data = (obj as { data?: unknown }).data;
    if (obj.kind === 'ResourceQuota')
      projected.status = { hard: (obj as { status?: { hard?: unknown } }).status?.hard };
    if (obj.kind === 'Deployment') {
      const d = obj as {
        spec?: { replicas?: number };
        status?: { availableReplicas?: number; readyReplicas?: number };
      };
      projected.spec = { replicas: d.spec?.replicas };
      projected.status = { availableReplicas: d.status?.availableReplicas, readyReplicas: d.status?.readyReplicas };
    }
    return projected as T;
  };
}
