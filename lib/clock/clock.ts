/**
 * The clock behind every timer in Weir (queue backoff, token buckets, leader election,
 * windows, probes), so that tests can move time by hand instead of sleeping.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as nextMacrotask } from 'node:timers/promises';

declare const timerHandleBrand: unique symbol;

/** A pending timer; only the clock that made it can cancel it. */
export type TimerHandle = { readonly [timerHandleBrand]: true };

/** Wall-clock time and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Milliseconds on a clock that only moves forward, from an arbitrary start: for measuring
   * how long something took or has lasted, which a wall clock set back or forward would falsify.
   */
  monotonic(): number;
  /** Calls `fn` once, `ms` milliseconds from now. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; a timer that has already fired or been cancelled is ignored. */
  clearTimeout(handle: TimerHandle): void;
  /** Resolves after `ms` milliseconds; rejects with the signal's reason if it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Builds `sleep` from a clock's own timers, so a fake clock's sleeps obey `advance`. */
function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The real clock. Its timers keep the process alive, as a pending requeue should: a
 * process that must exit anyway shuts its queues down, which clears their timers.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  // Node fires a delay beyond 2^31-1 ms after 1ms instead; waiting ~24.8 days is closer.
  setTimeout: (fn, ms) => setTimeout(fn, Math.min(ms, MAX_TIMER_DELAY_MS)) as unknown as TimerHandle,
  clearTimeout: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
  sleep(ms, signal) {
    return sleepOn(systemClock, ms, signal);
  },
};

interface FakeTimer {
  at: number;
  /** Breaks ties between timers due at the same moment: the earlier-made one fires first. */
  seq: number;
  fn: () => void;
}

/** Options for {@link FakeClock}. */
export interface FakeClockOptions {
  /** The starting time in milliseconds since the epoch; 0 unless given. */
  now?: number;
}

/** A clock that only moves when a test tells it to. */
export class FakeClock implements Clock {
  #now: number;
  #monotonic = 0;
  #seq = 0;
  #timers = new Map<TimerHandle, FakeTimer>();

  constructor(options: FakeClockOptions = {}) {
    this.#now = options.now ?? 0;
  }

  now(): number {
    return this.#now;
  }

  /** Moves with {@link advance} and forward {@link set}s, never back. */
  monotonic(): number {
    return this.#monotonic;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = {} as TimerHandle;
    // Like Node, a negative or non-numeric delay means "as soon as possible".
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    this.#timers.set(handle, { at: this.#now + delay, seq: this.#seq++, fn });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }

  /** Timers that have neither fired nor been cancelled. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /**
   * Moves time forward by `ms`, firing each timer that falls due in deadline order with
   * the clock reading its deadline. Pending promise callbacks run before, between and
   * after the firings, so code awaiting a sleep can schedule its next timer in time for
   * this advance to fire it too. A timer that throws rejects the advance.
   */
  async advance(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`cannot advance a clock by ${ms}ms`);
    const target = this.#now + ms;
    await settle();
    for (let next = this.#nextDue(target); next; next = this.#nextDue(target)) {
      const [handle, timer] = next;
      this.#timers.delete(handle);
      this.#monotonic += timer.at - this.#now;
      this.#now = timer.at;
      timer.fn();
      await settle();
    }
    this.#monotonic += target - this.#now;
    this.#now = target;
  }

  /**
   * Sets the wall-clock time. Moving forward fires due timers as {@link advance} does;
   * moving back only changes what `now()` reads (as when a clock is set back): the
   * monotonic clock stays, and pending timers keep their deadlines.
   */
  async set(ms: number): Promise<void> {
    if (ms >= this.#now) return this.advance(ms - this.#now);
    this.#now = ms;
  }

  #nextDue(target: number): [TimerHandle, FakeTimer] | undefined {
    let best: [TimerHandle, FakeTimer] | undefined;
    for (const entry of this.#timers) {
      const timer = entry[1];
      if (timer.at > target) continue;
      if (!best || timer.at < best[1].at || (timer.at === best[1].at && timer.seq < best[1].seq)) best = entry;
    }
    return best;
  }
}

/**
 * Lets every queued promise callback run. A macrotask turn drains the whole microtask
 * queue, however long its chains, where a fixed number of `await`s would not.
 */
function settle(): Promise<void> {
  return nextMacrotask();
}
