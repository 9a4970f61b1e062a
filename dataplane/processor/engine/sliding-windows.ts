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
}

interface SlidingWindow {
  group: Group;
  start: number;
  revision: number;
  closed: boolean;
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
  #dirtyWindows = new Set<string>();
  #dirtyPanes = new Set<string>();
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
    const starts = slidingStarts(t, this.#size, this.#slide);
    const earliestEnd = starts[0]! + this.#size;
    if (earliestEnd + this.#ctx.allowedLatenessMs <= watermark) return 'tooLate';
    const paneStart = Math.floor(t / this.#pane) * this.#pane;
    const paneKey = `${group.key}${SEP}${paneStart}`;
    const existing = this.#panes.get(paneKey);
    const pane = existing ?? { ...this.#ctx.measures.create(), group, start: paneStart };
    this.#ctx.measures.add(pane, event);
    if (!existing) {
      this.#panes.set(paneKey, pane);
      this.#purgePaneAt.push(this.#paneLastEnd(paneStart) + this.#ctx.allowedLatenessMs, paneKey);
    }
    this.#dirtyPanes.add(paneKey);
    for (const start of starts) {
      const key = `${group.key}${SEP}${start}`;
      if (!this.#windows.has(key)) {
        const window = { group, start, revision: 0, closed: start + this.#size <= watermark };
        this.#windows.set(key, window);
        this.#schedule(key, window);
      }
      this.#dirtyWindows.add(key);
    }
    return earliestEnd <= watermark ? 'late' : 'onTime';
  }

  advance(watermark: number): void {
    for (const { key } of this.#closeAt.popDue(watermark)) {
      const window = this.#windows.get(key);
      if (!window || window.closed) continue;
      window.closed = true;
      this.#dirtyWindows.add(key);
      this.#purgeWindowAt.push(window.start + this.#size + this.#ctx.allowedLatenessMs, key);
    }
  }

  drain(watermark: number, now: number, out: Emissions): void {
    for (const key of this.#dirtyWindows) {
      const w = this.#windows.get(key)!;
      w.revision++;
      const panes: Pane[] = [];
      for (let s = w.start; s < w.start + this.#size; s += this.#pane) {
        const pane = this.#panes.get(`${w.group.key}${SEP}${s}`);
        if (pane) panes.push(pane);
      }
      const merged = this.#ctx.measures.combine(panes);
      out.results.push(
        windowResult(this.#ctx, w.group, w.start, w.start + this.#size, merged, w.revision, w.closed, now),
      );
      const saved: SavedWindow = { g: w.group.values, s: w.start, r: w.revision, c: w.closed };
      out.changes.set(`w${SEP}${key}`, saved);
    }
    this.#dirtyWindows.clear();
    for (const key of this.#dirtyPanes) {
      const p = this.#panes.get(key)!;
      const saved: SavedPane = { g: p.group.values, s: p.start, ...this.#ctx.measures.save(p) };
      out.changes.set(`p${SEP}${key}`, saved);
    }
    this.#dirtyPanes.clear();
    for (const { key } of this.#purgeWindowAt.popDue(watermark))
      if (this.#windows.delete(key)) out.changes.set(`w${SEP}${key}`, null);
    for (const { key } of this.#purgePaneAt.popDue(watermark))
      if (this.#panes.delete(key)) out.changes.set(`p${SEP}${key}`, null);
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
      });
      this.#purgePaneAt.push(this.#paneLastEnd(saved.s) + this.#ctx.allowedLatenessMs, stateKey);
    } else if (kind === 'w') {
      const saved = value as SavedWindow;
      const window = { group: { key: groupKey, values: saved.g }, start: saved.s, revision: saved.r, closed: saved.c };
      this.#windows.set(stateKey, window);
      this.#schedule(stateKey, window);
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
