/**
 * Counting objects that reached a condition, through an informer, so that measuring does
 * not load the API server with lists and a watch that ends is resumed.
 */
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { Informer } from '../lib/kube/informer.ts';
import { KubeClient } from '../lib/kube/kube-client.ts';

/** An object with Kubernetes conditions in its status. */
export type WithConditions = KubernetesObject & { status?: { conditions?: { type: string; status: string }[] } };

/** The names counted so far, and a promise of the moment (`performance.now()`) the count reached `n`. */
export interface ConditionCount<T extends KubernetesObject> {
  names: Set<string>;
  reached: Promise<number>;
  informer: Informer<T>;
}

/**
 * Starts an informer on `path` and counts the objects for which `counts` holds and whose
 * condition `type` is True, until there are `n`. Resolves once the informer has synced.
 */
export async function countCondition<T extends WithConditions>(options: {
  kubeConfig: KubeConfig;
  path: string;
  type: string;
  n: number;
  counts: (obj: T) => boolean;
}): Promise<ConditionCount<T>> {
  const names = new Set<string>();
  let resolve!: (at: number) => void;
  const reached = new Promise<number>((r) => (resolve = r));
  const informer = new Informer<T>({
    client: new KubeClient(options.kubeConfig, { fieldManager: 'weir-bench' }),
    path: options.path,
    resyncPeriodMs: 0,
  });
  const count = (obj: T) => {
    if (options.counts(obj) && obj.status?.conditions?.some((c) => c.type === options.type && c.status === 'True'))
      names.add(obj.metadata!.name!);
    if (names.size === options.n) resolve(performance.now());
  };
  informer.on('add', count);
  informer.on('update', count);
  informer.start();
  await informer.waitForSync();
  return { names, reached, informer };
}
