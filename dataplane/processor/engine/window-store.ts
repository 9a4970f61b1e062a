/**
 * What the three window kinds (tumbling, sliding, session) have in common: how an event is
 * judged against the watermark, what a drain hands back, and how state is keyed in the
 * changelog. Each kind keeps its windows in memory and says which of them changed.
 */
import type { WindowResult, WindowRetraction } from '../../../lib/platform/results.ts';
import type { Accumulators, MeasureSet } from './accumulators.ts';
import type { Group } from './event-fields.ts';

/**
 * Where an event stands against the watermark: every window it belongs to still open
 * (`onTime`); some closed but all within the allowed lateness, so they are corrected
 * (`late`); or one of them past the lateness (`tooLate`), so it is dead-lettered and counted
 * in none of them — an event is in all of its windows or in none.
 */
export type Lateness = 'onTime' | 'late' | 'tooLate';

/** A changelog entry: the state under `key`, or null once it is gone. */
export interface StateChange {
  key: string;
  value: unknown;
}

/** What a drain collects: results to materialize, retracted sessions, and state changes for the changelog. */
export interface Emissions {
  results: WindowResult[];
  retractions: WindowRetraction[];
  /** By key: a later change of a key replaces an earlier one of the same drain. */
  changes: Map<string, unknown>;
}

/** What a store needs to know of its aggregation. */
export interface StoreContext {
  aggregation: string;
  measures: MeasureSet;
  allowedLatenessMs: number;
  /**
   * Least time between two results of a window that is still open: its state is saved at
   * every drain, its current result at most this often. A closed window's result, and a
   * correction of one, goes out at once.
   */
  resultIntervalMs: number;
}

/** The windows of one aggregation. */
export interface WindowStore {
  /** Judges the event against the watermark and, unless too late, adds it; throws if a measure fails (then nothing changed). */
  add(group: Group, eventTime: number, event: unknown, watermark: number): Lateness;
  /** Closes the windows the watermark passed. */
  advance(watermark: number): void;
  /** Saves every window changed since the last drain, emits the results that are due, then lets go of windows past their lateness. */
  drain(watermark: number, now: number, out: Emissions): void;
  /** Takes back a changelog entry this store wrote (the key without the aggregation prefix). */
  restore(key: string, value: unknown): void;
  /** Windows held, for metrics. */
  readonly size: number;
}

/** Separates the parts of a state key; JSON text never holds a raw NUL. */
export const SEP = '\u0000';

/** A result of a window as every sink stores it. */
export function windowResult(
  ctx: StoreContext,
  group: Group,
  start: number,
  end: number,
  window: Accumulators,
  revision: number,
  final: boolean,
  now: number,
): WindowResult {
  return {
    aggregation: ctx.aggregation,
    groupKey: group.key,
    group: group.values,
    windowStart: start,
    windowEnd: end,
    measures: ctx.measures.results(window),
    events: window.events,
    revision,
    final,
    updatedAt: now,
  };
}
