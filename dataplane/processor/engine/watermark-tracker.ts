/**
 * The watermark of one aggregation over the input partitions a task reads: each partition
 * trails its newest event time by `maxOutOfOrderness`, and the watermark is the least of
 * them, so no partition's events are closed out by another's progress.
 *
 * A partition that has gone `idleTimeout` without an event (or that has had none since it
 * was assigned) stops holding the watermark back. Once every partition is idle, event time
 * is taken to advance with the clock from the newest event seen: the watermark becomes
 * `newest − maxOutOfOrderness + (now − last arrival)`, which is where a busy stream whose
 * event time follows the clock would have put it. So windows still close while nothing
 * arrives — at most `idleTimeout` later than on a busy stream — instead of waiting for
 * the next event. The watermark never goes back.
 *
 * Arrival times are processing time from the injected clock; nothing else reads it.
 */

/** What the changelog keeps of a tracker: the newest event time per partition and the watermark reached. */
export interface WatermarkState {
  /** Null before the first watermark (JSON has no -Infinity). */
  watermark: number | null;
  newest: Record<string, number>;
}

interface PartitionState {
  /** Newest event time seen, or undefined before the first event. */
  newest: number | undefined;
  /** When the last event arrived, or when the partition was assigned. */
  lastArrival: number;
}

/** The watermark before any event: nothing is late yet. */
export const NO_WATERMARK = Number.NEGATIVE_INFINITY;

export class WatermarkTracker {
  readonly maxOutOfOrdernessMs: number;
  readonly idleTimeoutMs: number;
  #partitions = new Map<number, PartitionState>();
  #watermark = NO_WATERMARK;

  constructor(options: { maxOutOfOrdernessMs: number; idleTimeoutMs: number }) {
    this.maxOutOfOrdernessMs = options.maxOutOfOrdernessMs;
    this.idleTimeoutMs = options.idleTimeoutMs;
  }

  /** The watermark last computed by {@link advance}. */
  get watermark(): number {
    return this.#watermark;
  }

  /** Starts tracking a partition; it holds the watermark back until its first event or until idle. */
  assign(partition: number, now: number, newest?: number): void {
    if (!this.#partitions.has(partition)) this.#partitions.set(partition, { newest, lastArrival: now });
  }

  /** Stops tracking a partition (it went to another task). */
  revoke(partition: number): void {
    this.#partitions.delete(partition);
  }

  /** Notes an event of the partition. */
  observe(partition: number, eventTime: number, now: number): void {
    let p = this.#partitions.get(partition);
    if (!p) this.#partitions.set(partition, (p = { newest: undefined, lastArrival: now }));
    if (p.newest === undefined || eventTime > p.newest) p.newest = eventTime;
    p.lastArrival = now;
  }

  /** Recomputes the watermark at `now`; returns it. */
  advance(now: number): number {
    let activeMin = Number.POSITIVE_INFINITY;
    let anyActive = false;
    let newest = Number.NEGATIVE_INFINITY;
    let lastArrival = Number.NEGATIVE_INFINITY;
    for (const p of this.#partitions.values()) {
      if (p.newest !== undefined && p.newest > newest) newest = p.newest;
      if (p.lastArrival > lastArrival) lastArrival = p.lastArrival;
      if (now - p.lastArrival >= this.idleTimeoutMs) continue;
      anyActive = true;
      const trailing = p.newest === undefined ? NO_WATERMARK : p.newest - this.maxOutOfOrdernessMs;
      if (trailing < activeMin) activeMin = trailing;
    }
    let candidate = NO_WATERMARK;
    if (anyActive) candidate = activeMin;
    else if (newest > Number.NEGATIVE_INFINITY) candidate = newest - this.maxOutOfOrdernessMs + (now - lastArrival);
    if (candidate > this.#watermark) this.#watermark = candidate;
    return this.#watermark;
  }

  /** What the changelog keeps. */
  save(): WatermarkState {
    const newest: Record<string, number> = {};
    for (const [partition, p] of this.#partitions) if (p.newest !== undefined) newest[partition] = p.newest;
    return { watermark: this.#watermark === NO_WATERMARK ? null : this.#watermark, newest };
  }

  /** Takes back a saved state for the partitions it names; arrivals count from `now`. */
  restore(state: WatermarkState, now: number): void {
    if (state.watermark !== null && state.watermark > this.#watermark) this.#watermark = state.watermark;
    for (const [partition, newest] of Object.entries(state.newest)) {
      const p = this.#partitions.get(Number(partition));
      if (p) p.newest = p.newest === undefined ? newest : Math.max(p.newest, newest);
      else this.#partitions.set(Number(partition), { newest, lastArrival: now });
    }
  }
}
