/** Tumbling windows: fixed, back to back, aligned to the epoch; an event is in exactly one. */
import type { SavedAccumulators } from './accumulators.ts';
import type { Accumulators } from './accumulators.ts';
import type { Group } from './event-fields.ts';
import { TimeQueue } from './time-queue.ts';
import {
  SEP,
  windowResult,
  type Emissions,
  type Lateness,
  type StoreContext,
  type WindowStore,
} from './window-store.ts';

interface TumblingWindow extends Accumulators {
  group: Group;
  start: number;
  revision: number;
  closed: boolean;
  /** When its result last went out (not saved: a restored open window goes out again once). */
  emittedAt: number;
  /** Whether the changelog holds it: a window that opens and goes between two drains needs no tombstone. */
  persisted: boolean;
}

interface SavedWindow extends SavedAccumulators {
  g: Record<string, unknown>;
  s: number;
  r: number;
  c: boolean;
}

/** The start of the tumbling window of `size` that holds `t`. */
export function tumblingStart(t: number, size: number): number {
  return Math.floor(t / size) * size;
}

export class TumblingWindows implements WindowStore {
  readonly #ctx: StoreContext;
  readonly #size: number;
  #windows = new Map<string, TumblingWindow>();
  /** Windows whose state changed since the last drain. */
  #changed = new Set<string>();
  /** Windows whose result has not gone out since they changed. */
  #pending = new Set<string>();
  #closeAt = new TimeQueue();
  #purgeAt = new TimeQueue();

  constructor(ctx: StoreContext, sizeMs: number) {
    this.#ctx = ctx;
    this.#size = sizeMs;
  }

  get size(): number {
    return this.#windows.size;
  }

  add(group: Group, t: number, event: unknown, watermark: number): Lateness {
    const start = tumblingStart(t, this.#size);
    const end = start + this.#size;
    if (end + this.#ctx.allowedLatenessMs <= watermark) return 'tooLate';
    const key = `${group.key}${SEP}${start}`;
    const existing = this.#windows.get(key);
    const window = existing ?? {
      ...this.#ctx.measures.create(),
      group,
      start,
      revision: 0,
      closed: end <= watermark,
      emittedAt: Number.NEGATIVE_INFINITY,
      persisted: false,
    };
    this.#ctx.measures.add(window, event);
    if (!existing) {
      this.#windows.set(key, window);
      this.#schedule(key, window);
    }
    this.#changed.add(key);
    this.#pending.add(key);
    return end <= watermark ? 'late' : 'onTime';
  }

  advance(watermark: number): void {
    for (const { key } of this.#closeAt.popDue(watermark)) {
      const window = this.#windows.get(key);
      if (!window || window.closed) continue;
      window.closed = true;
      this.#changed.add(key);
      this.#pending.add(key);
      this.#purgeAt.push(window.start + this.#size + this.#ctx.allowedLatenessMs, key);
    }
  }

  drain(watermark: number, now: number, out: Emissions): void {
    for (const key of this.#pending) {
      const w = this.#windows.get(key)!;
      if (!w.closed && now - w.emittedAt < this.#ctx.resultIntervalMs) continue;
      w.revision++;
      w.emittedAt = now;
      out.results.push(windowResult(this.#ctx, w.group, w.start, w.start + this.#size, w, w.revision, w.closed, now));
      this.#pending.delete(key);
      this.#changed.add(key);
    }
    // Windows past their lateness go now that their results are out; one the changelog
    // never held needs no tombstone, and none needs its last state saved.
    const gone = new Set(this.#purgeAt.popDue(watermark).map((e) => e.key));
    for (const key of this.#changed) {
      if (gone.has(key)) continue;
      const w = this.#windows.get(key)!;
      const saved: SavedWindow = {
        g: w.group.values,
        s: w.start,
        r: w.revision,
        c: w.closed,
        ...this.#ctx.measures.save(w),
      };
      out.changes.set(`t${SEP}${key}`, saved);
      w.persisted = true;
    }
    this.#changed.clear();
    for (const key of gone) {
      const w = this.#windows.get(key);
      if (!w) continue;
      this.#windows.delete(key);
      this.#pending.delete(key);
      if (w.persisted) out.changes.set(`t${SEP}${key}`, null);
    }
  }

  restore(key: string, value: unknown): void {
    const [kind, groupKey, start] = key.split(SEP);
    if (kind !== 't' || groupKey === undefined || start === undefined) return;
    const saved = value as SavedWindow;
    const window: TumblingWindow = {
      ...this.#ctx.measures.load(saved),
      group: { key: groupKey, values: saved.g },
      start: saved.s,
      revision: saved.r,
      closed: saved.c,
      emittedAt: Number.NEGATIVE_INFINITY,
      persisted: true,
    };
    const windowKey = `${groupKey}${SEP}${start}`;
    this.#windows.set(windowKey, window);
    // An open window's current result may not have gone out before the restart.
    if (!window.closed) this.#pending.add(windowKey);
    this.#schedule(windowKey, window);
  }

  #schedule(key: string, window: TumblingWindow): void {
    const end = window.start + this.#size;
    if (window.closed) this.#purgeAt.push(end + this.#ctx.allowedLatenessMs, key);
    else this.#closeAt.push(end, key);
  }
}
