/**
 * Adding and removing a finalizer, in the manner of controller-runtime's controllerutil:
 * small helpers on one object, each a single write.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { statusCode, type KubeClient, type ObjectReference } from './kube-client.ts';

/** The field manager of finalizer writes: its own, so that applying the list never drops another field's owner. */
function finalizerManager(client: KubeClient): string {
  return `${client.fieldManager}-finalizer`;
}

/** Whether the object carries the finalizer. */
export function hasFinalizer(obj: KubernetesObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

/**
 * Adds `finalizer`. Applying the finalizer list as a set touches only the entry this field
 * manager owns, so finalizers of others are never lost to a race.
 */
export async function addFinalizer(client: KubeClient, ref: ObjectReference, finalizer: string): Promise<void> {
  const { name, namespace } = ref.metadata;
  const body = { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name, namespace, finalizers: [finalizer] } };
  await client.apply(body, { fieldManager: finalizerManager(client) });
}

/**
 * Removes `finalizer` from an object, whoever added it. A manifest that lists it too (an
 * object restored from a backup, say) makes its manager a co-owner of the entry, and an
 * apply of an empty list would only give up this manager's share; so this is a JSON patch
 * that tests each entry it removes (every copy, should the list hold it twice) and the
 * object's uid. An entry moved by another writer since `stored` was read makes it read the
 * object again (up to three times), and an object deleted and created anew under the same
 * name keeps its finalizer. An object already gone, or without the finalizer, is done.
 */
export async function removeFinalizer(client: KubeClient, stored: KubernetesObject, finalizer: string): Promise<void> {
  const uid = stored.metadata?.uid;
  let current: KubernetesObject | undefined = stored;
  for (let attempt = 1; current; attempt++) {
    if (uid && current.metadata?.uid !== uid) return;
    // From the end, so that each removal leaves the indexes before it in place.
    const indexes = (current.metadata?.finalizers ?? []).flatMap((f, i) => (f === finalizer ? [i] : [])).reverse();
    if (indexes.length === 0) return;
    const operations = [
      ...(uid ? [{ op: 'test', path: '/metadata/uid', value: uid }] : []),
      ...indexes.flatMap((i) => [
        { op: 'test', path: `/metadata/finalizers/${i}`, value: finalizer },
        { op: 'remove', path: `/metadata/finalizers/${i}` },
      ]),
    ];
    try {
      await client.jsonPatch(stored, operations, { fieldManager: finalizerManager(client) });
      return;
    } catch (err) {
      const status = statusCode(err);
      if (status === 404) return;
      // 422: a test failed, another writer moved things since the object was read.
      if (status !== 422 || attempt === 3) throw err;
      current = await client.get(await client.pathOf(stored));
    }
  }
}
