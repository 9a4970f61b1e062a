/**
 * What a controller keeps in its cache of objects it owns: identity, labels, the few
 * annotations it reads, owner references and, for Secrets, the data. Everything else of a
 * child is the controller's own output and is not read back, so it need not be held.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

/** An informer transform that keeps only metadata (and the annotations named). */
export function projectMetadata<T extends KubernetesObject>(keepAnnotations: readonly string[]): (obj: T) => T {
  return (obj) => {
    const m = obj.metadata ?? {};
    const annotations = Object.fromEntries(keepAnnotations.filter((a) => m.annotations?.[a] !== undefined).map((a) => [a, m.annotations![a]!]));
    const projected: KubernetesObject & { data?: unknown } = {
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
    return projected as T;
  };
}
