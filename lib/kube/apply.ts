/**
 * Server-side apply with one field manager: owned objects, the status subresource of
 * Weir objects, and finalizers. Force is on because the operator is the authority for the
 * fields it sets; fields it does not set stay with whoever manages them.
 */
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { KubeRequests } from './kube-client.ts';

/** The HTTP status of an error from @kubernetes/client-node, if it has one. */
export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** Writes objects the way the operator owns them. */
export class Applier {
  readonly fieldManager: string;
  #requests: KubeRequests;

  constructor(options: { kubeConfig: KubeConfig; fieldManager: string }) {
    this.fieldManager = options.fieldManager;
    this.#requests = new KubeRequests(options.kubeConfig);
  }

  /** Server-side applies a whole object; returns what the API server stored. */
  apply<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.#requests.apply(obj, this.fieldManager);
  }

  /**
   * Creates an object, its fields owned by this field manager through an Update entry. The
   * API server does less for a create than for an apply; {@link releaseUpdateFields} hands
   * the fields over to the apply entry when the object first changes.
   */
  create<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.#requests.create(obj, this.fieldManager);
  }

  /**
   * Hands the fields this field manager owns through an Update entry (from {@link create})
   * over to its Apply entry, and drops the Update entry: then an apply that leaves one of
   * them out removes it, as it would had the object been applied from the start. Resolves
   * with whether there was anything to hand over. The JSON patch tests both entries first,
   * so one moved by another writer since `stored` was read makes it read them again.
   */
  async releaseUpdateFields(stored: KubernetesObject): Promise<boolean> {
    return this.#testedPatch(stored, this.fieldManager, (current) => {
      const entries = current.metadata?.managedFields ?? [];
      const mine = (operation: string) =>
        entries.findIndex((e) => e.manager === this.fieldManager && e.operation === operation && !e.subresource);
      const update = mine('Update');
      const apply = mine('Apply');
      if (update < 0 || apply < 0) return undefined;
      const union = mergeFieldSets(entries[apply]!.fieldsV1, entries[update]!.fieldsV1);
      const test = (index: number, operation: string) => [
        { op: 'test', path: `/metadata/managedFields/${index}/manager`, value: this.fieldManager },
        { op: 'test', path: `/metadata/managedFields/${index}/operation`, value: operation },
      ];
      // Replace before remove: removing an entry shifts the ones after it.
      return [
        ...test(update, 'Update'),
        ...test(apply, 'Apply'),
        { op: 'replace', path: `/metadata/managedFields/${apply}/fieldsV1`, value: union },
        { op: 'remove', path: `/metadata/managedFields/${update}` },
      ];
    });
  }

  /** Deletes an object; one that is already gone is fine. */
  async delete(obj: KubernetesObject): Promise<void> {
    try {
      await this.#requests.send('DELETE', await this.#requests.pathOf(obj));
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  /** Server-side applies the status of a Weir object through its status subresource; resolves with the new resourceVersion. */
  async applyStatus(obj: {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string };
    status: unknown;
  }): Promise<string | undefined> {
    const body = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace },
      status: obj.status,
    };
    const stored = await this.#requests.apply<KubernetesObject>(body, this.fieldManager, 'status');
    return stored.metadata?.resourceVersion;
  }

  /**
   * Adds this operator's finalizer to a Weir object. Applying the finalizer list as a set
   * touches only the entry this field manager owns, so finalizers of others are never lost
   * to a race. Resolves with the new resourceVersion.
   */
  async addFinalizer(
    obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
    finalizer: string,
  ): Promise<string | undefined> {
    const body = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace, finalizers: [finalizer] },
    };
    const stored = await this.#requests.apply<KubernetesObject>(body, this.#finalizerManager);
    return stored.metadata?.resourceVersion;
  }

  /**
   * Removes this operator's finalizer from a Weir object, whoever added it. A manifest that
   * lists it too (an object restored from a backup, say) makes its manager a co-owner of the
   * entry, and an apply of an empty list would only give up this manager's share. The JSON
   * patch tests each entry it removes (every copy, should the list hold it twice) and the
   * object's uid, so an entry moved by another writer since `stored` was read makes it read
   * the list again, and an object deleted and created anew under the same name keeps its
   * finalizer. An object already gone, or without the finalizer, is done.
   */
  async removeFinalizer(stored: KubernetesObject, finalizer: string): Promise<void> {
    const uid = stored.metadata?.uid;
    try {
      await this.#testedPatch(stored, this.#finalizerManager, (current) => {
        if (uid && current.metadata?.uid !== uid) return undefined;
        // From the end, so that each removal leaves the indexes before it in place.
        const indexes = (current.metadata?.finalizers ?? []).flatMap((f, i) => (f === finalizer ? [i] : [])).reverse();
        if (indexes.length === 0) return undefined;
        return [
          ...(uid ? [{ op: 'test', path: '/metadata/uid', value: uid }] : []),
          ...indexes.flatMap((i) => [
            { op: 'test', path: `/metadata/finalizers/${i}`, value: finalizer },
            { op: 'remove', path: `/metadata/finalizers/${i}` },
          ]),
        ];
      });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  /**
   * Sends the JSON patch `operations` builds from `stored`, whose `test` operations guard
   * what it read there; when a test fails (422, another writer moved things), reads the
   * object again and builds the patch anew, up to three times. Resolves with whether there
   * was anything to patch: `operations` returns undefined when there is not.
   */
  async #testedPatch(
    stored: KubernetesObject,
    fieldManager: string,
    operations: (current: KubernetesObject) => object[] | undefined,
  ): Promise<boolean> {
    const path = await this.#requests.pathOf(stored);
    let current = stored;
    for (let attempt = 1; ; attempt++) {
      const body = operations(current);
      if (!body) return false;
      try {
        await this.#requests.send('PATCH', path, {
          query: { fieldManager },
          contentType: 'application/json-patch+json',
          body,
        });
        return true;
      } catch (err) {
        if (statusCode(err) !== 422 || attempt === 3) throw err;
        current = await this.#requests.send<KubernetesObject>('GET', path);
      }
    }
  }

  get #finalizerManager(): string {
    return `${this.fieldManager}-finalizer`;
  }
}

/** The union of two managedFields field sets (FieldsV1: nested maps of `f:`/`k:`/`v:` keys). */
export function mergeFieldSets(a: unknown, b: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(a as Record<string, unknown> | undefined) };
  for (const [key, value] of Object.entries((b as Record<string, unknown> | undefined) ?? {})) {
    out[key] = key in out ? mergeFieldSets(out[key], value) : value;
  }
  return out;
}

/**
 * Whether resourceVersion `a` is newer than `b`. Resource versions are opaque to clients,
 * so this is only ever used to prefer what this process wrote over a lagging cache; when
 * either is not a number it answers false and the cache wins.
 */
export function isNewerVersion(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^[0-9]+$/.test(a) || !/^[0-9]+$/.test(b)) return false;
  return BigInt(a) > BigInt(b);
}

/** An owner reference that makes `owner` the controller of a child, for garbage collection. */
export function controllerReference(owner: KubernetesObject): {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: true;
  blockOwnerDeletion: true;
} {
  if (!owner.apiVersion || !owner.kind || !owner.metadata?.name || !owner.metadata.uid)
    throw new Error('an owner needs apiVersion, kind, name and uid');
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}
