/**
 * The queue between a controller's event sources and its workers, with the guarantees of
 * client-go's rate-limiting work queue: a key waiting to be processed is held once however
 * often it is added, and no two workers ever process the same key at the same time.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock/clock.ts';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.ts';
import { noQueueMetrics, type QueueMetrics, type WorkQueueMetrics } from './work-queue-metrics.ts';

/** Options for {@link WorkQueue}. */
export interface WorkQueueOptions {
  /** Names the queue in metrics; the controller's name. */
  name: string;
  /** The real clock unless given. */
  clock?: Clock;
  /** Delays for {@link WorkQueue.addRateLimited}; controller-runtime's default unless given. */
  rateLimiter?: RateLimiter;
  /** Where the queue reports its workqueue_* metrics; nowhere unless given. */
  metrics?: WorkQueueMetrics;
}

interface DelayedAdd {
  readyAt: number;
  timer: TimerHandle;
}

/**
 * A de-duplicating, rate-limited queue of keys (usually `namespace/name`).
 *
 * A key is *dirty* from when it is added until a worker takes it, and *processing* from
 * then until the worker calls `done`. Adding a dirty key does nothing; adding a
 * processing key marks it dirty again, and it is handed out once more after `done`.
 *
 * After `shutDown` the queue ignores new adds and drops delayed ones, but keys already
 * waiting are still handed out: `get` resolves `undefined` only once none are left, so
 * workers finish the backlog and then stop (client-go's behaviour).
 */
export class WorkQueue<T extends string = string> {
  readonly name: string;
  #clock: Clock;
  #rateLimiter: RateLimiter;
  #metrics: QueueMetrics;
  /** Dirty keys not being processed, oldest first; a Set keeps order and excludes repeats. */
  #ready = new Set<T>();
  #dirty = new Set<T>();
  #processing = new Set<T>();
  #delayed = new Map<T, DelayedAdd>();
  /** Workers blocked in `get`, first come first served. */
  #getters: ((key: T | undefined) => void)[] = [];
  #drainers: (() => void)[] = [];
  #shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.#clock = options.clock ?? systemClock;
    this.#rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter(this.#clock);
    this.#metrics = options.metrics?.forQueue(options.name, this.#clock) ?? noQueueMetrics;
  }

  /** True once `shutDown` or `shutDownWithDrain` has been called. */
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Keys waiting for a worker; keys being processed are not counted, even if dirty again. */
  len(): number {
    return this.#ready.size;
  }

  /** Marks `key` for processing. */
  add(key: T): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#metrics.add(key);
    this.#dirty.add(key);
    // A key being processed waits for `done`, so that no two workers hold it.
    if (!this.#processing.has(key)) this.#enqueue(key);
  }

  /** Adds `key` after `delayMs`; if it is already waiting to be added, the earlier time wins. */
  addAfter(key: T, delayMs: number): void {
    if (this.#shuttingDown) return;
    this.#metrics.retry();
    if (!(delayMs > 0)) return this.add(key);
    const readyAt = this.#clock.now() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending) {
      if (pending.readyAt <= readyAt) return;
      this.#clock.clearTimeout(pending.timer);
    }
    const timer = this.#clock.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.#delayed.set(key, { readyAt, timer });
  }

  /** Adds `key` once the rate limiter allows: after failures, with growing backoff. */
  addRateLimited(key: T): void {
    this.addAfter(key, this.#rateLimiter.when(key));
  }

  /** Resets the key's backoff, typically after it was processed successfully. */
  forget(key: T): void {
    this.#rateLimiter.forget(key);
  }

  /** How many times the key has been rate-limited since it was last forgotten. */
  numRequeues(key: T): number {
    return this.#rateLimiter.numRequeues(key);
  }

  /**
   * The next key to process, waiting for one if there is none. The caller must call
   * `done(key)` when finished. Resolves `undefined` once the queue is shut down and empty.
   */
  get(): Promise<T | undefined> {
    const key = this.#takeReady();
    if (key !== undefined || this.#shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  /** Ends the processing of `key`; if it was added meanwhile it is handed out again. */
  done(key: T): void {
    // Ignoring a stray `done` beats letting it hand out a key another worker still holds.
    if (!this.#processing.has(key)) return;
    this.#metrics.done(key);
    this.#processing.delete(key);
    if (this.#dirty.has(key)) this.#enqueue(key);
    if (this.#processing.size === 0) this.#drainers.splice(0).forEach((resolve) => resolve());
  }

  /** Stops taking keys and releases idle workers; keys already waiting are still handed out. */
  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) this.#clock.clearTimeout(timer);
    this.#delayed.clear();
    // Getters only wait while nothing is ready, so every one of them is told to stop.
    this.#getters.splice(0).forEach((resolve) => resolve(undefined));
  }

  /** Shuts down, then resolves once every key handed out has been marked done. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainers.push(resolve));
  }

  /** Hands `key` straight to a waiting worker, or puts it in line. */
  #enqueue(key: T): void {
    this.#ready.add(key);
    const getter = this.#getters.shift();
    if (getter) getter(this.#takeReady());
  }

  #takeReady(): T | undefined {
    const next = this.#ready.values().next();
    if (next.done) return undefined;
    const key = next.value;
    this.#ready.delete(key);
    this.#dirty.delete(key);
    this.#processing.add(key);
    this.#metrics.get(key);
    return key;
  }
}
