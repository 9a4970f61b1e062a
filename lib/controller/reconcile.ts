/** The contract between a controller and its reconciler. */

/** What a reconcile is asked to converge: one object, named by its cache key. */
export interface ReconcileRequest {
  /** `namespace/name`, or `name` for cluster-scoped objects. */
  key: string;
  namespace?: string;
  name: string;
}

/**
 * How a reconcile ended when it did not throw. `requeueAfterMs` asks to look again later
 * (for example to poll an external system); otherwise the object is reconciled again only
 * when it or something it watches changes, or at the next re-sync.
 */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/**
 * Converges the world towards one object's spec. Throwing retries with per-item
 * exponential backoff; throwing an error the registry marks as not retryable (such as
 * `Errors.Terminal`, controller-runtime's TerminalError) stops retrying until the object
 * changes.
 */
export interface Reconciler {
  reconcile(request: ReconcileRequest, signal: AbortSignal): Promise<ReconcileResult | void>;
}

/** The request for a cache key. */
export function requestFor(key: string): ReconcileRequest {
  const slash = key.indexOf('/');
  return slash === -1 ? { key, name: key } : { key, namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The cache key of an object. */
export function keyOf(obj: { metadata?: { namespace?: string; name?: string } }): string {
  const name = obj.metadata?.name ?? '';
  return obj.metadata?.namespace ? `${obj.metadata.namespace}/${name}` : name;
}
