/**
 * A shared informer: an in-memory cache of one kind of Kubernetes object, kept current by
 * a list followed by a watch, that tells handlers what changed — client-go's
 * SharedInformer, on Weir's one API client (`KubeClient`).
 *
 * client-node 2.0.1's own `makeInformer` re-lists on 410 Gone, but stops for good on any
 * other list or watch error, never asks for bookmarks (so its Watch's 30 s inactivity
 * timeout cuts every quiet watch), caches `managedFields`, and mixes typed objects from
 * the list with raw JSON from the watch. This one never gives up until `stop()`, backs off
 * on a clock that tests control, and restarts watches that go silent.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { systemClock, type Clock, type TimerHandle } from '../clock/clock.ts';
import { silentLogger, type Logger } from '../observability/logger.ts';
import type { KubeClient } from './kube-client.ts';

/** What happened to a cached object. */
export type InformerEvent = 'add' | 'update' | 'delete';

/** Called with the object as now cached (for `delete`, as last known) and, on `update`, the one it replaced. */
export type InformerHandler<T> = (obj: T, old?: T) => void;

/** What an informer needs of the API client: lists and watches (unit tests pass a fake). */
export type InformerClient = Pick<KubeClient, 'list' | 'watch'>;

/** Delays between restarts of a failed list or watch. */
export interface InformerBackoff {
  /** The first delay; 500 ms unless given. Each delay is jittered down by up to half. */
  initialMs?: number;
  /** Delays double up to this; 30 s unless given. */
  maxMs?: number;
  /** A watch that stayed up this long resets the delay to `initialMs`; 60 s unless given. */
  resetAfterMs?: number;
}

/** Options for {@link Informer}. */
export interface InformerOptions<T extends KubernetesObject> {
  client: InformerClient;
  /** The collection's URL path, e.g. `/api/v1/namespaces` or `/apis/weir.dev/v1alpha1/tenants`. */
  path: string;
  /** Lists and watches only the objects it selects. */
  labelSelector?: string;
  /** Lists and watches only the objects it selects, such as `spec.nodeName=n1` for a node's pods. */
  fieldSelector?: string;
  /** How often every cached object is handed to `onResync` handlers; 10 min unless given, 0 turns it off. */
  resyncPeriodMs?: number;
  /** A watch that delivered nothing, bookmarks included, for this long is restarted; 5 min unless given. */
  silenceTimeoutMs?: number;
  /** Asks the server for bookmarks, which keep a quiet but healthy watch from looking silent; true unless given. */
  bookmarks?: boolean;
  backoff?: InformerBackoff;
  clock?: Clock;
  log?: Logger;
  /**
   * Reshapes every object before it is cached, like client-go's SetTransform: a controller
   * that needs only part of an object (say metadata) keeps only that part in memory.
   */
  transform?: (obj: T) => T;
}

/** Counters for tests and metrics. */
export interface InformerStats {
  /** Successful lists: the first one and every re-list. */
  lists: number;
  /** Watches that ended for any reason but `stop()` and were (or will be) started again. */
  watchRestarts: number;
  /** Of those, watches ended because they went silent. */
  silentWatches: number;
}

/** How a watch ended: `gone` means its resourceVersion is too old to resume from. */
type WatchEnd = 'stopped' | 'gone' | 'ended';

/** The cache key of an object: `namespace/name`, or `name` when cluster-scoped. */
export function keyOf(obj: KubernetesObject): string {
  const { namespace, name = '' } = obj.metadata ?? {};
  return namespace ? `${namespace}/${name}` : name;
}

/** A list-watch cache of one collection; call `start()` once, then `waitForSync()`. */
export class Informer<T extends KubernetesObject> {
  readonly path: string;
  #client: InformerClient;
  #transform: (obj: T) => T;
  #clock: Clock;
  #log: Logger;
  /** The watch parameters that never change. */
  #query: { labelSelector: string | undefined; fieldSelector: string | undefined; allowWatchBookmarks: boolean };
  #resyncPeriodMs: number;
  #silenceTimeoutMs: number;
  #backoff: Required<InformerBackoff>;
  #cache = new Map<string, T>();
  #resourceVersion = '';
  #handlers: Record<InformerEvent, InformerHandler<T>[]> = { add: [], update: [], delete: [] };
  #resyncHandlers: ((obj: T) => void)[] = [];
  #resyncTimer: TimerHandle | undefined;
  #stats: InformerStats = { lists: 0, watchRestarts: 0, silentWatches: 0 };
  #synced = Promise.withResolvers<void>();
  #hasSynced = false;
  #stop = new AbortController();
  #running: Promise<void> | undefined;

  constructor(options: InformerOptions<T>) {
    this.path = options.path;
    this.#client = options.client;
    this.#transform = options.transform ?? ((obj) => obj);
    this.#clock = options.clock ?? systemClock;
    this.#log = (options.log ?? silentLogger()).child({ informer: options.path });
    this.#query = {
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      allowWatchBookmarks: options.bookmarks ?? true,
    };
    this.#resyncPeriodMs = options.resyncPeriodMs ?? 10 * 60_000;
    this.#silenceTimeoutMs = options.silenceTimeoutMs ?? 5 * 60_000;
    this.#backoff = { initialMs: 500, maxMs: 30_000, resetAfterMs: 60_000, ...options.backoff };
    if (!(this.#silenceTimeoutMs > 0)) throw new RangeError('silenceTimeoutMs must be greater than zero');
    if (!(this.#resyncPeriodMs >= 0)) throw new RangeError('resyncPeriodMs must not be negative');
    // Keeps the promise from counting as unhandled when no one waits for the sync of an informer that stops.
    this.#synced.promise.catch(() => {});
  }

  /** True once the first list has filled the cache. */
  get hasSynced(): boolean {
    return this.#hasSynced;
  }

  /** A snapshot of the counters. */
  get stats(): InformerStats {
    return { ...this.#stats };
  }

  /** Registers a handler; returns a function that removes it. Objects passed are the cached ones: do not mutate them. */
  on(event: InformerEvent, fn: InformerHandler<T>): () => void {
    return subscribe(this.#handlers[event], fn);
  }

  /** Registers a handler called with every cached object once each resync period, so controllers re-check everything. */
  onResync(fn: (obj: T) => void): () => void {
    return subscribe(this.#resyncHandlers, fn);
  }

  /** The cached object under `key` (see {@link keyOf}). */
  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  /** Every cached object. */
  list(): T[] {
    return [...this.#cache.values()];
  }

  /** Lists, then watches, restarting both as needed until `stop()`. */
  start(): void {
    if (this.#stop.signal.aborted) throw new Error('a stopped informer cannot be started again');
    this.#running ??= this.#run();
  }

  /** Resolves after the first list; rejects if `signal` aborts or the informer stops first. */
  waitForSync(signal?: AbortSignal): Promise<void> {
    return signal ? untilAborted(this.#synced.promise, signal) : this.#synced.promise;
  }

  /** Aborts the watch and clears every timer; resolves once the informer has wound down. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error('informer stopped'));
    if (this.#resyncTimer) this.#clock.clearTimeout(this.#resyncTimer);
    if (!this.#hasSynced) this.#synced.reject(this.#stop.signal.reason);
    await this.#running;
  }

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    let mustList = true;
    let failures = 0;
    while (!stop.aborted) {
      try {
        if (mustList) await this.#relist();
        mustList = false;
        const startedAt = this.#clock.now();
        const end = await this.#watchOnce();
        if (end === 'stopped') return;
        this.#stats.watchRestarts++;
        mustList = end === 'gone';
        if (this.#clock.now() - startedAt >= this.#backoff.resetAfterMs) failures = 0;
      } catch (err) {
        if (stop.aborted) return;
        this.#log.warn({ err: describe(err) }, 'list failed; retrying');
      }
      const delay = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** Math.min(failures++, 30));
      // Jitter spreads out the informers of many replicas that lost the same API server.
      await this.#clock.sleep(delay * (0.5 + Math.random() / 2), stop).catch(() => {});
    }
  }

  /** Replaces the cache with a fresh list, telling handlers what changed since the last one. */
  async #relist(): Promise<void> {
    const list = await untilAborted(
      this.#client.list<T>(
        this.path,
        { labelSelector: this.#query.labelSelector, fieldSelector: this.#query.fieldSelector },
        { signal: this.#stop.signal },
      ),
      this.#stop.signal,
    );
    // Items of a list carry no kind; the list's own kind names it.
    const kind = list.kind?.replace(/List$/, '');
    const next = new Map<string, T>();
    for (const item of list.items) {
      item.kind ??= kind;
      item.apiVersion ??= list.apiVersion;
      stripManagedFields(item);
      const cached = this.#transform(item);
      next.set(keyOf(cached), cached);
    }
    const previous = this.#cache;
    const changed: [T, T | undefined][] = [];
    for (const [key, obj] of next) {
      const old = previous.get(key);
      const version = old?.metadata?.resourceVersion;
      // Unchanged objects keep their identity, so handlers holding them hold the cached one.
      if (version !== undefined && version === obj.metadata?.resourceVersion) next.set(key, old!);
      else changed.push([obj, old]);
    }
    this.#cache = next;
    this.#resourceVersion = list.metadata?.resourceVersion ?? '';
    this.#stats.lists++;
    for (const [obj, old] of changed) this.#emit(old ? 'update' : 'add', obj, old);
    for (const [key, old] of previous) if (!next.has(key)) this.#emit('delete', old);
    if (!this.#hasSynced) {
      this.#hasSynced = true;
      this.#synced.resolve();
      this.#scheduleResync();
    }
    this.#log.debug({ objects: next.size, resourceVersion: this.#resourceVersion }, 'listed');
  }

  /** Watches from the last resourceVersion until the watch ends, errs, goes silent, or the informer stops. */
  #watchOnce(): Promise<WatchEnd> {
    return new Promise((resolve) => {
      const stop = this.#stop.signal;
      let request: AbortController | undefined;
      let ended = false;
      let lastEventAt = this.#clock.now();
      let timer: TimerHandle | undefined;
      const end = (how: WatchEnd) => {
        if (ended) return;
        ended = true;
        if (timer) this.#clock.clearTimeout(timer);
        stop.removeEventListener('abort', onStop);
        request?.abort();
        resolve(how);
      };
      const onStop = () => end('stopped');
      const checkSilence = () => {
        const idleMs = this.#clock.now() - lastEventAt;
        if (idleMs < this.#silenceTimeoutMs) {
          timer = this.#clock.setTimeout(checkSilence, this.#silenceTimeoutMs - idleMs);
          return;
        }
        this.#stats.silentWatches++;
        this.#log.warn({ idleMs }, 'watch went silent; restarting it');
        end('ended');
      };
      const onEvent = (type: string, obj: unknown) => {
        if (ended) return;
        lastEventAt = this.#clock.now();
        if (type !== 'ERROR') return this.#apply(type, obj as T);
        const gone = isGone(obj);
        this.#log[gone ? 'info' : 'warn'](
          { status: obj },
          gone ? 'watch expired; re-listing' : 'watch failed; restarting it',
        );
        end(gone ? 'gone' : 'ended');
      };
      const onDone = (err: unknown) => {
        if (ended) return;
        if (err) this.#log.warn({ err: describe(err) }, 'watch failed; restarting it');
        else this.#log.debug('watch ended; restarting it');
        end(isGone(err) ? 'gone' : 'ended');
      };
      if (stop.aborted) return end('stopped');
      stop.addEventListener('abort', onStop, { once: true });
      timer = this.#clock.setTimeout(checkSilence, this.#silenceTimeoutMs);
      // As client-go does: the server ends each watch after 5-10 min, spreading clients across API servers.
      const query = {
        ...this.#query,
        resourceVersion: this.#resourceVersion,
        timeoutSeconds: Math.floor(300 + Math.random() * 300),
      };
      // `watch` hands back its AbortController only once the response has started; until then we can only drop it.
      const headersTimeoutMs = this.#silenceTimeoutMs + 30_000;
      this.#client.watch(this.path, query, onEvent, onDone, { headersTimeoutMs }).then((controller) => {
        request = controller;
        if (ended) controller.abort();
      }, onDone);
    });
  }

  /** A watch object as the cache holds it. */
  #shape(raw: T): T {
    stripManagedFields(raw);
    return this.#transform(raw);
  }

  /** Applies one watch event to the cache. */
  #apply(type: string, raw: T): void {
    const resourceVersion = raw.metadata?.resourceVersion;
    if (type === 'ADDED' || type === 'MODIFIED') {
      const obj = this.#shape(raw);
      const old = this.#cache.get(keyOf(obj));
      this.#cache.set(keyOf(obj), obj);
      this.#emit(old ? 'update' : 'add', obj, old);
    } else if (type === 'DELETED') {
      const obj = this.#shape(raw);
      if (this.#cache.delete(keyOf(obj))) this.#emit('delete', obj);
    }
    // A BOOKMARK only moves the resourceVersion the next watch resumes from.
    if (resourceVersion) this.#resourceVersion = resourceVersion;
  }

  #emit(event: InformerEvent, obj: T, old?: T): void {
    for (const fn of [...this.#handlers[event]]) this.#call(event, fn, obj, old);
  }

  /** A failing handler is logged and skipped: it must not break the cache or the other handlers. */
  #call(event: InformerEvent | 'resync', fn: InformerHandler<T>, obj: T, old?: T): void {
    try {
      fn(obj, old);
    } catch (err) {
      this.#log.error({ err, event, key: keyOf(obj) }, 'informer handler failed');
    }
  }

  #scheduleResync(): void {
    if (this.#resyncPeriodMs === 0 || this.#stop.signal.aborted) return;
    this.#resyncTimer = this.#clock.setTimeout(() => {
      for (const obj of this.list()) for (const fn of [...this.#resyncHandlers]) this.#call('resync', fn, obj);
      this.#scheduleResync();
    }, this.#resyncPeriodMs);
  }
}

/** Adds `fn` to `handlers`; the returned function removes it again. */
function subscribe<F>(handlers: F[], fn: F): () => void {
  handlers.push(fn);
  return () => {
    const index = handlers.indexOf(fn);
    if (index >= 0) handlers.splice(index, 1);
  };
}

/** managedFields often outweigh the rest of an object and no controller reads them from a cache. */
function stripManagedFields(obj: KubernetesObject): void {
  if (obj.metadata) delete obj.metadata.managedFields;
}

/** 410 Gone as an HTTP status or as a watch ERROR event ("too old resource version"). */
function isGone(err: unknown): boolean {
  const e = err as { statusCode?: unknown; code?: unknown; reason?: unknown; message?: unknown } | null | undefined;
  if (!e) return false;
  if (e.statusCode === 410 || e.code === 410 || e.reason === 'Expired' || e.reason === 'Gone') return true;
  return typeof e.message === 'string' && e.message.includes('too old resource version');
}

/** Settles with `promise`, or rejects with the signal's reason once it aborts, so a hung list cannot outlast stop(). */
function untilAborted<R>(promise: Promise<R>, signal: AbortSignal): Promise<R> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A one-line description of an API or network error; client-node's messages carry every header. */
function describe(err: unknown): string {
  const e = err as { code?: unknown; statusCode?: unknown; body?: { message?: unknown } } | undefined;
  const status = typeof e?.code === 'number' ? e.code : e?.statusCode;
  const message = e?.body?.message;
  if (typeof status === 'number') return `${status}${typeof message === 'string' ? `: ${message}` : ''}`;
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
