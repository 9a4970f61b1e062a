/**
 * Sliding windows: `size` long, starting every `slide`, aligned to the epoch; an event is in
 * size/slide of them. Events are kept in panes of gcd(size, slide), which every window
 * covers whole, so an event updates one pane and a window's result merges its panes.
 */
import type { Accumulators, SavedAccumulators } from './accumulators.ts';
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

interface Pane extends Accumulators {
  group: Group;
  start: number;
  /** Whether the changelog holds it. */
  persisted: boolean;
}

interface SlidingWindow {
  group: Group;
  start: number;
  revision: number;
  closed: boolean;
  /** When its result last went out (not saved: a restored open window goes out again once). */
  emittedAt: number;
  /** Whether the changelog holds it: what opens and goes between two drains needs no tombstone. */
  persisted: boolean;
}

interface SavedPane extends SavedAccumulators {
  g: Record<string, unknown>;
  s: number;
}

interface SavedWindow {
  g: Record<string, unknown>;
  s: number;
  r: number;
  c: boolean;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The starts of the sliding windows that hold `t`, earliest first. */
export function slidingStarts(t: number, size: number, slide: number): number[] {
  const first = (Math.floor((t - size) / slide) + 1) * slide;
  const starts: number[] = [];
  for (let s = first; s <= t; s += slide) starts.push(s);
  return starts;
}

export class SlidingWindows implements WindowStore {
  readonly #ctx: StoreContext;
  readonly #size: number;
  readonly #slide: number;
  readonly #pane: number;
  #panes = new Map<string, Pane>();
  #windows = new Map<string, SlidingWindow>();
  /** Windows whose result has not gone out since they changed. */
  #pending = new Set<string>();
  /** Windows whose revision or closing changed since the last drain. */
  #changedWindows = new Set<string>();
  #changedPanes = new Set<string>();
  #closeAt = new TimeQueue();
  #purgeWindowAt = new TimeQueue();
  #purgePaneAt = new TimeQueue();

  constructor(ctx: StoreContext, sizeMs: number, slideMs: number) {
    this.#ctx = ctx;
    this.#size = sizeMs;
    this.#slide = slideMs;
    this.#pane = gcd(sizeMs, slideMs);
  }

  get size(): number {
    return this.#windows.size;
  }

  add(group: Group, t: number, event: unknown, watermark: number): Lateness {
    const first = (Math.floor((t - this.#size) / this.#slide) + 1) * this.#slide;
    const earliestEnd = first + this.#size;
    if (earliestEnd + this.#ctx.allowedLatenessMs <= watermark) return 'tooLate';
    const paneStart = Math.floor(t / this.#pane) * this.#pane;
    const paneKey = `${group.key}${SEP}${paneStart}`;
    const existing = this.#panes.get(paneKey);
    const pane = existing ?? { ...this.#ctx.measures.create(), group, start: paneStart, persisted: false };
    this.#ctx.measures.add(pane, event);
    if (!existing) {
      this.#panes.set(paneKey, pane);
      this.#purgePaneAt.push(this.#paneLastEnd(paneStart) + this.#ctx.allowedLatenessMs, paneKey);
    }
    // Every event of a pane belongs to the same windows: once a drain, they are looked at.
    const seen = this.#changedPanes.has(paneKey);
    this.#changedPanes.add(paneKey);
    if (seen) return earliestEnd <= watermark ? 'late' : 'onTime';
    for (let start = first; start <= t; start += this.#slide) {
      const key = `${group.key}${SEP}${start}`;
      if (!this.#windows.has(key)) {
        const window = {
          group,
          start,
          revision: 0,
          closed: start + this.#size <= watermark,
          emittedAt: Number.NEGATIVE_INFINITY,
          persisted: false,
        };
        this.#windows.set(key, window);
        this.#schedule(key, window);
        this.#changedWindows.add(key);
      }
      this.#pending.add(key);
    }
    return earliestEnd <= watermark ? 'late' : 'onTime';
  }

  advance(watermark: number): void {
    for (const { key } of this.#closeAt.popDue(watermark)) {
      const window = this.#windows.get(key);
      if (!window || window.closed) continue;
      window.closed = true;
      this.#changedWindows.add(key);
      this.#pending.add(key);
      this.#purgeWindowAt.push(window.start + this.#size + this.#ctx.allowedLatenessMs, key);
    }
  }

  drain(watermark: number, now: number, out: Emissions): void {
    for (const key of this.#pending) {
      const w = this.#windows.get(key)!;
      if (!w.closed && now - w.emittedAt < this.#ctx.resultIntervalMs) continue;
      w.revision++;
      w.emittedAt = now;
      const panes: Pane[] = [];
      for (let s = w.start; s < w.start + this.#size; s += this.#pane) {
        const pane = this.#panes.get(`${w.group.key}${SEP}${s}`);
        if (pane) panes.push(pane);
      }
      const merged = this.#ctx.measures.combine(panes);
      out.results.push(
        windowResult(this.#ctx, w.group, w.start, w.start + this.#size, merged, w.revision, w.closed, now),
      );
      this.#pending.delete(key);
      this.#changedWindows.add(key);
    }
    const goneWindows = new Set(this.#purgeWindowAt.popDue(watermark).map((e) => e.key));
    const gonePanes = new Set(this.#purgePaneAt.popDue(watermark).map((e) => e.key));
    for (const key of this.#changedWindows) {
      if (goneWindows.has(key)) continue;
      const w = this.#windows.get(key)!;
      const saved: SavedWindow = { g: w.group.values, s: w.start, r: w.revision, c: w.closed };
      out.changes.set(`w${SEP}${key}`, saved);
      w.persisted = true;
    }
    this.#changedWindows.clear();
    for (const key of this.#changedPanes) {
      if (gonePanes.has(key)) continue;
      const p = this.#panes.get(key)!;
      const saved: SavedPane = { g: p.group.values, s: p.start, ...this.#ctx.measures.save(p) };
      out.changes.set(`p${SEP}${key}`, saved);
      p.persisted = true;
    }
    this.#changedPanes.clear();
    for (const key of goneWindows) {
      const w = this.#windows.get(key);
      if (!w) continue;
      this.#windows.delete(key);
      this.#pending.delete(key);
      if (w.persisted) out.changes.set(`w${SEP}${key}`, null);
    }
    for (const key of gonePanes) {
      const p = this.#panes.get(key);
      if (!p) continue;
      this.#panes.delete(key);
      if (p.persisted) out.changes.set(`p${SEP}${key}`, null);
    }
  }

  restore(key: string, value: unknown): void {
    const [kind, groupKey, start] = key.split(SEP);
    if (groupKey === undefined || start === undefined) return;
    const stateKey = `${groupKey}${SEP}${start}`;
    if (kind === 'p') {
      const saved = value as SavedPane;
      this.#panes.set(stateKey, {
        ...this.#ctx.measures.load(saved),
        group: { key: groupKey, values: saved.g },
        start: saved.s,
        persisted: true,
      });
      this.#purgePaneAt.push(this.#paneLastEnd(saved.s) + this.#ctx.allowedLatenessMs, stateKey);
    } else if (kind === 'w') {
      const saved = value as SavedWindow;
      const window = {
        group: { key: groupKey, values: saved.g },
        start: saved.s,
        revision: saved.r,
        closed: saved.c,
        emittedAt: Number.NEGATIVE_INFINITY,
        persisted: true,
      };
      this.#windows.set(stateKey, window);
      this.#schedule(stateKey, window);
      if (!window.closed) this.#pending.add(stateKey);
    }
  }

  /** End of the last window that covers the pane: its state may go once that window has. */
  #paneLastEnd(paneStart: number): number {
    return Math.floor(paneStart / this.#slide) * this.#slide + this.#size;
  }

  #schedule(key: string, window: SlidingWindow): void {
    const end = window.start + this.#size;
    if (window.closed) this.#purgeWindowAt.push(end + this.#ctx.allowedLatenessMs, key);
    else this.#closeAt.push(end, key);
  }
}
