/**
 * How long a work queue waits before retrying a key, with the semantics of client-go's
 * workqueue rate limiters, so that Weir's controllers back off as Kubernetes' own do.
 */
import type { Clock } from '../clock/clock.ts';

/** Decides how long a key waits before it is added back to a queue. */
export interface RateLimiter {
  /** The delay in milliseconds before `item` may be retried; counts as one more failure. */
  when(item: string): number;
  /** Clears what the limiter remembers of `item`, typically after it was processed successfully. */
  forget(item: string): void;
  /** How many times `item` has been retried since it was last forgotten. */
  numRequeues(item: string): number;
}

/** Options for {@link ItemExponentialFailureRateLimiter}. */
export interface ExponentialFailureOptions {
  /** Delay after the first failure; 5ms as in client-go unless given. */
  baseDelayMs?: number;
  /** Ceiling on the delay; 1000s as in client-go unless given. */
  maxDelayMs?: number;
}

/** Per-key exponential backoff: base * 2^failures, capped at the maximum. */
export class ItemExponentialFailureRateLimiter implements RateLimiter {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  #failures = new Map<string, number>();

  constructor(options: ExponentialFailureOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 5;
    this.maxDelayMs = options.maxDelayMs ?? 1_000_000;
    if (!(this.baseDelayMs >= 0 && this.maxDelayMs >= 0)) throw new RangeError('delays must not be negative');
  }

  when(item: string): number {
    const failures = this.#failures.get(item) ?? 0;
    this.#failures.set(item, failures + 1);
    // 2^failures reaches Infinity after ~1000 failures; the cap covers that too.
    return Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
  }

  forget(item: string): void {
    this.#failures.delete(item);
  }

  numRequeues(item: string): number {
    return this.#failures.get(item) ?? 0;
  }
}

/** Options for {@link BucketRateLimiter}. */
export interface BucketOptions {
  /** Tokens added per second; 10 unless given. */
  qps?: number;
  /** Size of the bucket, which starts full; 100 unless given. */
  burst?: number;
  clock: Clock;
}

/**
 * One token bucket shared by every key, capping the queue's overall retry rate. Like
 * golang.org/x/time/rate's Reserve, each call takes a token at once even when the bucket
 * is empty and returns how long to wait for it, so waiting callers queue up in time.
 */
export class BucketRateLimiter implements RateLimiter {
  readonly qps: number;
  readonly burst: number;
  #clock: Clock;
  /** Tokens at `#last`; negative when tokens are already promised to waiting callers. */
  #tokens: number;
  #last: number;

  constructor(options: BucketOptions) {
    this.qps = options.qps ?? 10;
    this.burst = options.burst ?? 100;
    if (!(this.qps > 0)) throw new RangeError(`qps must be positive, got ${this.qps}`);
    if (!(this.burst >= 1)) throw new RangeError(`burst must be at least 1, got ${this.burst}`);
    this.#clock = options.clock;
    this.#tokens = this.burst;
    this.#last = options.clock.now();
  }

  when(_item: string): number {
    const now = this.#clock.now();
    // A clock that stepped back refills nothing rather than draining the bucket.
    const elapsedMs = Math.max(0, now - this.#last);
    const tokens = Math.min(this.burst, this.#tokens + (elapsedMs / 1000) * this.qps) - 1;
    this.#tokens = tokens;
    this.#last = now;
    return tokens < 0 ? (-tokens / this.qps) * 1000 : 0;
  }

  /** The bucket is shared, so there is nothing to forget per key. */
  forget(_item: string): void {}

  numRequeues(_item: string): number {
    return 0;
  }
}

/** The strictest of several limiters: the longest delay and the highest requeue count. */
export class MaxOfRateLimiter implements RateLimiter {
  #limiters: readonly RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    if (limiters.length === 0) throw new RangeError('MaxOfRateLimiter needs at least one limiter');
    this.#limiters = limiters;
  }

  when(item: string): number {
    // Every limiter must see the failure, so no short-circuiting.
    return Math.max(...this.#limiters.map((limiter) => limiter.when(item)));
  }

  forget(item: string): void {
    for (const limiter of this.#limiters) limiter.forget(item);
  }

  numRequeues(item: string): number {
    return Math.max(...this.#limiters.map((limiter) => limiter.numRequeues(item)));
  }
}

/**
 * controller-runtime's default: per-key backoff from 5ms to 1000s, and at most 10 retries
 * a second overall after a burst of 100.
 */
export function defaultControllerRateLimiter(clock: Clock): RateLimiter {
  return new MaxOfRateLimiter(
    new ItemExponentialFailureRateLimiter({ baseDelayMs: 5, maxDelayMs: 1_000_000 }),
    new BucketRateLimiter({ qps: 10, burst: 100, clock }),
  );
}
