/**
 * A controller: event sources feed keys into a rate-limited work queue, and a fixed number
 * of workers reconcile them, never two at once for one key. Level-triggered: events only
 * say which key to look at; the reconciler reads the current state itself.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { systemClock, type Clock } from '../clock/clock.ts';
import type { ControllerMetrics } from './controller-metrics.ts';
import { errorSummary, isRetryable } from '../errors/errors.ts';
import { keyOf, requestFor, type Reconciler } from './reconcile.ts';
import { sameJson } from '../kube/same-json.ts';
import type { RateLimiter } from './rate-limiter.ts';
import { WorkQueue } from './work-queue.ts';
import type { WorkQueueMetrics } from './work-queue-metrics.ts';

/** What a controller needs of an informer. */
export interface EventSource<T extends KubernetesObject> {
  on(event: 'add' | 'update' | 'delete', handler: (obj: T, old?: T) => void): void;
  onResync(handler: (obj: T) => void): void;
}

export interface ControllerOptions {
  /** Names the controller in logs and metrics, such as `tenant`. */
  name: string;
  reconciler: Reconciler;
  /** Workers reconciling at once; controller-runtime's MaxConcurrentReconciles. */
  concurrency?: number;
  clock?: Clock;
  log?: Logger;
  metrics?: ControllerMetrics;
  queueMetrics?: WorkQueueMetrics;
  rateLimiter?: RateLimiter;
}

/** Reconciles the keys its event sources produce. */
export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  #reconciler: Reconciler;
  #concurrency: number;
  #clock: Clock;
  #log: Logger;
  #metrics: ControllerMetrics | undefined;
  #stop = new AbortController();
  #workers: Promise<void>[] = [];

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.#reconciler = options.reconciler;
    this.#concurrency = options.concurrency ?? 4;
    this.#clock = options.clock ?? systemClock;
    this.#log = (options.log ?? pino({ enabled: false })).child({ controller: options.name });
    this.#metrics = options.metrics;
    this.queue = new WorkQueue({
      name: options.name,
      clock: this.#clock,
      rateLimiter: options.rateLimiter,
      metrics: options.queueMetrics,
    });
  }

  /**
   * Reconciles an object's own key whenever it changes beyond its status, or is re-synced.
   * A change to the status alone (the status this controller just wrote, as a rule) says
   * nothing new about what to reconcile, as controller-runtime's GenerationChangedPredicate
   * has it; labels, annotations, finalizers and deletion do count.
   */
  watchPrimary<T extends KubernetesObject>(source: EventSource<T>): this {
    return this.watch(source, (obj) => [keyOf(obj)], changedBeyondStatus);
  }

  /**
   * Reconciles the keys `map` derives from an object of another kind whenever that object
   * changes (for example the owner of a changed child, or every Tenant of a Region).
   */
  watch<T extends KubernetesObject>(
    source: EventSource<T>,
    map: (obj: T) => readonly string[],
    updated: (obj: T, old: T) => boolean = () => true,
  ): this {
    const enqueue = (obj: T) => {
      for (const key of map(obj)) this.queue.add(key);
    };
    source.on('add', enqueue);
    source.on('update', (obj, old) => {
      if (old && !updated(obj, old)) return;
      enqueue(obj);
      if (old) enqueue(old);
    });
    source.on('delete', enqueue);
    source.onResync(enqueue);
    return this;
  }

  /** Starts the workers; resolves once stop() has let them finish. */
  start(): Promise<void> {
    this.#metrics?.workers(this.name, this.#concurrency);
    for (let i = 0; i < this.#concurrency; i++) this.#workers.push(this.#work());
    this.#log.info({ workers: this.#concurrency }, 'controller started');
    return Promise.all(this.#workers).then(() => undefined);
  }

  /** Stops reconciling: aborts running reconciles' signal, hands out no further key, and waits for them to finish. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error('controller stopping'));
    await this.queue.shutDownWithDrain();
    await Promise.all(this.#workers);
    this.#log.info('controller stopped');
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        // A stopping controller (shut down, or its leader lost the lease) reconciles nothing
        // more; the keys still waiting are the next leader's.
        if (!this.#stop.signal.aborted) await this.#reconcileKey(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  async #reconcileKey(key: string): Promise<void> {
    const log = this.#log.child({ key });
    const started = this.#clock.now();
    const seconds = () => (this.#clock.now() - started) / 1000;
    this.#metrics?.active(this.name, 1);
    try {
      const result = await this.#reconciler.reconcile(requestFor(key), this.#stop.signal);
      this.queue.forget(key);
      if (result?.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        this.queue.addAfter(key, result.requeueAfterMs);
        this.#metrics?.reconciled(this.name, 'requeue_after', seconds());
      } else {
        this.#metrics?.reconciled(this.name, 'success', seconds());
      }
      log.debug({ durationMs: Math.round(seconds() * 1000) }, 'reconciled');
    } catch (err) {
      const terminal = !isRetryable(err);
      this.#metrics?.reconciled(this.name, 'error', seconds());
      this.#metrics?.failed(this.name, terminal);
      if (terminal) {
        this.queue.forget(key);
        log.error({ err }, 'reconcile failed for good; waiting for the object to change');
      } else if (!this.#stop.signal.aborted) {
        this.queue.addRateLimited(key);
        log.warn(
          { err: errorSummary(err), retries: this.queue.numRequeues(key) },
          'reconcile failed; retrying with backoff',
        );
      }
    } finally {
      this.#metrics?.active(this.name, -1);
    }
  }
}

/**
 * Whether an update of an object changed more than its status: its spec (the generation),
 * labels, annotations, finalizers or deletion.
 */
export function changedBeyondStatus(obj: KubernetesObject, old: KubernetesObject): boolean {
  const a = obj.metadata ?? {};
  const b = old.metadata ?? {};
  return (
    a.generation !== b.generation ||
    String(a.deletionTimestamp ?? '') !== String(b.deletionTimestamp ?? '') ||
    !sameJson(a.labels, b.labels) ||
    !sameJson(a.annotations, b.annotations) ||
    !sameJson(a.finalizers, b.finalizers)
  );
}
