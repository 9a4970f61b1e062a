/**
 * What a controller last wrote to the objects it reconciles. A reconcile that runs before
 * the cache has seen the controller's own write (the watch lags behind the response)
 * would otherwise find the old status or no finalizer and write them all again.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { isNewerVersion } from '../kube/apply.ts';

interface Written<S> {
  resourceVersion: string | undefined;
  status?: S;
  finalizer?: boolean;
}

/** Objects (keyed by uid) with the status and finalizer this process wrote last. */
export class WrittenObjects<T extends KubernetesObject & { status?: S }, S> {
  readonly #finalizer: string;
  #written = new Map<string, Written<S>>();

  /** `finalizer` is the one finalizer this controller sets. */
  constructor(finalizer: string) {
    this.#finalizer = finalizer;
  }

  /** The cached object, with what this process wrote since if the cache has not caught up. */
  freshest(cached: T): T {
    const written = this.#written.get(cached.metadata?.uid ?? '');
    if (!written || !isNewerVersion(written.resourceVersion, cached.metadata?.resourceVersion)) return cached;
    const finalizers = cached.metadata?.finalizers ?? [];
    return {
      ...cached,
      metadata: {
        ...cached.metadata,
        finalizers:
          written.finalizer && !finalizers.includes(this.#finalizer) ? [...finalizers, this.#finalizer] : finalizers,
      },
      status: written.status ?? cached.status,
    };
  }

  /** Records a write to `obj` and the resourceVersion it produced. */
  note(obj: T, resourceVersion: string | undefined, change: { status?: S; finalizer?: boolean }): void {
    const uid = obj.metadata?.uid ?? '';
    this.#written.set(uid, { ...this.#written.get(uid), ...change, resourceVersion });
  }

  /** Forgets an object that is gone. */
  forget(obj: T): void {
    this.#written.delete(obj.metadata?.uid ?? '');
  }
}
