/**
 * Server-side apply with one field manager: owned objects, the status subresource of
 * Weir objects, and finalizers. Force is on because the operator is the authority for the
 * fields it sets; fields it does not set stay with whoever manages them.
 */
import { CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../crds/kind-definition.ts';

const APPLY = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

/** The HTTP status of an error from @kubernetes/client-node, if it has one. */
export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** Writes objects the way the operator owns them. */
export class Applier {
  readonly fieldManager: string;
  #objects: KubernetesObjectApi;
  #custom: CustomObjectsApi;

  constructor(options: { kubeConfig: KubeConfig; fieldManager: string }) {
    this.fieldManager = options.fieldManager;
    this.#objects = KubernetesObjectApi.makeApiClient(options.kubeConfig);
    this.#custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** Server-side applies a whole object; returns what the API server stored. */
  apply<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.#objects.patch(obj, undefined, undefined, this.fieldManager, true, PatchStrategy.ServerSideApply);
  }

  /** Deletes an object; one that is already gone is fine. */
  async delete(obj: KubernetesObject): Promise<void> {
    try {
      await this.#objects.delete(obj);
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  /** Server-side applies the status of a Weir object through its status subresource; resolves with the new resourceVersion. */
  async applyStatus(plural: string, obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; status: unknown }): Promise<string | undefined> {
    const body = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace }, status: obj.status };
    const common = { group: GROUP, version: VERSION, plural, name: obj.metadata.name, body, fieldManager: this.fieldManager, force: true };
    const stored = (obj.metadata.namespace
      ? await this.#custom.patchNamespacedCustomObjectStatus({ ...common, namespace: obj.metadata.namespace }, APPLY)
      : await this.#custom.patchClusterCustomObjectStatus(common, APPLY)) as KubernetesObject;
    return stored.metadata?.resourceVersion;
  }

  /**
   * Sets whether this operator's finalizer is on a Weir object. Applying the finalizer
   * list as a set touches only the entry this field manager owns, so finalizers of others
   * are never lost to a race. Resolves with the new resourceVersion.
   */
  async setFinalizer(plural: string, obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }, finalizer: string, present: boolean): Promise<string | undefined> {
    const body = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace, finalizers: present ? [finalizer] : [] } };
    const common = { group: GROUP, version: VERSION, plural, name: obj.metadata.name, body, fieldManager: `${this.fieldManager}-finalizer`, force: true };
    try {
      const stored = (obj.metadata.namespace
        ? await this.#custom.patchNamespacedCustomObject({ ...common, namespace: obj.metadata.namespace }, APPLY)
        : await this.#custom.patchClusterCustomObject(common, APPLY)) as KubernetesObject;
      return stored.metadata?.resourceVersion;
    } catch (err) {
      // Removing the finalizer of an object that is already gone is done.
      if (present || statusCode(err) !== 404) throw err;
      return undefined;
    }
  }
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
export function controllerReference(owner: KubernetesObject): { apiVersion: string; kind: string; name: string; uid: string; controller: true; blockOwnerDeletion: true } {
  if (!owner.apiVersion || !owner.kind || !owner.metadata?.name || !owner.metadata.uid) throw new Error('an owner needs apiVersion, kind, name and uid');
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true };
}
