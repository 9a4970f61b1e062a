/**
 * A window's accumulators, one per measure, and what the window stores do with them:
 * create, add an event atomically, merge, read results, save and load.
 */
import type { MeasureValue } from '../../../lib/platform/results.ts';
import type { MeasureOps } from './measures.ts';

/** The accumulators of one window (or pane, or session) and the events they counted. */
export interface Accumulators {
  accs: unknown[];
  events: number;
}

/** What the changelog stores of {@link Accumulators}. */
export interface SavedAccumulators {
  a: unknown[];
  n: number;
}

/** The measures of one aggregation, with user-defined ones first so that a failing one changes nothing. */
export class MeasureSet {
  readonly ops: readonly MeasureOps[];
  /** Indexes into `ops`: Function measures first, since they alone can fail. */
  readonly #order: number[];
  readonly #hasFunctions: boolean;

  constructor(ops: readonly MeasureOps[], isFunction: (index: number) => boolean) {
    this.ops = ops;
    const indexes = ops.map((_, i) => i);
    this.#order = [...indexes.filter(isFunction), ...indexes.filter((i) => !isFunction(i))];
    this.#hasFunctions = indexes.some(isFunction);
  }

  create(): Accumulators {
    return { accs: this.ops.map((m) => m.create()), events: 0 };
  }

  /**
   * Adds the event to every accumulator. User-defined reducers run first and return new
   * values; only once all of them succeeded are the in-place sketches touched, so an
   * error leaves the window as it was.
   */
  add(window: Accumulators, event: unknown): void {
    if (!this.#hasFunctions) {
      for (let i = 0; i < this.ops.length; i++) window.accs[i] = this.ops[i]!.add(window.accs[i], event);
    } else {
      const next = window.accs.slice();
      for (const i of this.#order) next[i] = this.ops[i]!.add(next[i], event);
      window.accs = next;
    }
    window.events++;
  }

  /** A new set of accumulators holding everything of `parts`. */
  combine(parts: Iterable<Accumulators>): Accumulators {
    const out = this.create();
    for (const part of parts) {
      // merge changes only its first argument, here always a fresh accumulator.
      out.accs = out.accs.map((acc, i) => this.ops[i]!.merge(acc, part.accs[i]));
      out.events += part.events;
    }
    return out;
  }

  results(window: Accumulators): Record<string, MeasureValue> {
    const out: Record<string, MeasureValue> = {};
    for (const [i, m] of this.ops.entries()) out[m.name] = m.result(window.accs[i]);
    return out;
  }

  save(window: Accumulators): SavedAccumulators {
    return { a: window.accs.map((acc, i) => this.ops[i]!.save(acc)), n: window.events };
  }

  load(saved: SavedAccumulators): Accumulators {
    return { accs: saved.a.map((json, i) => this.ops[i]!.load(json)), events: saved.n };
  }
}
