/**
 * A data-plane service's view of the Weir resources it serves: one informer per kind (list
 * and watch only), and one rebuild of the service's table at the end of the tick in which
 * changes arrive, so that a re-list or an apply of many objects rebuilds it once.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../crds/kind-definition.ts';
import type { Clock } from '../clock/clock.ts';
import type { Logger } from '../observability/logger.ts';
import { Informer, type InformerEvent } from './informer.ts';
import type { KubeClient } from './kube-client.ts';

/** An informer on a Weir kind, by its plural (`tenants`, `pipelines`, …). */
export function weirInformer<T extends KubernetesObject>(options: {
  client: KubeClient;
  plural: string;
  clock: Clock;
  log: Logger;
  resyncPeriodMs?: number;
}): Informer<T> {
  return new Informer<T>({
    client: options.client,
    path: `/apis/${GROUP}/${VERSION}/${options.plural}`,
    resyncPeriodMs: options.resyncPeriodMs ?? 0,
    clock: options.clock,
    log: options.log,
  });
}

/** What an {@link InformerSet} needs of an informer, whatever its kind. */
interface WatchedInformer {
  readonly hasSynced: boolean;
  on(event: InformerEvent, fn: () => void): unknown;
  waitForSync(signal?: AbortSignal): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

/** Informers whose changes call `rebuild` once per tick, after all of them have listed. */
export class InformerSet {
  readonly #informers: readonly WatchedInformer[];
  readonly #rebuild: () => void;
  #scheduled = false;

  constructor(informers: readonly WatchedInformer[], rebuild: () => void) {
    this.#informers = informers;
    this.#rebuild = rebuild;
    for (const i of informers) for (const event of ['add', 'update', 'delete'] as const) i.on(event, this.#schedule);
  }

  #schedule = () => {
    if (this.#scheduled || !this.#informers.every((i) => i.hasSynced)) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#rebuild();
    });
  };

  /** Resolves once every informer has listed, after one rebuild. */
  async synced(signal?: AbortSignal): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.waitForSync(signal)));
    this.#rebuild();
  }

  start(): void {
    for (const i of this.#informers) i.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.stop()));
  }
}
