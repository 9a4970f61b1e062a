/**
 * Session windows: a group's events closer than `gap` to each other form one session,
 * [first event, last event + gap). An event that bridges two sessions merges them; the
 * session whose start the merge took over is retracted, since its result no longer holds.
 * Sessions touch when one starts where the other ends, as in Flink.
 */
import type { WindowRetraction } from '../../../lib/platform/results.ts';
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

interface Session extends Accumulators {
  start: number;
  end: number;
  revision: number;
  closed: boolean;
  dirty: boolean;
}

interface GroupSessions {
  group: Group;
  /** Disjoint sessions in order of start. */
  sessions: Session[];
}

interface SavedSession extends SavedAccumulators {
  s: number;
  e: number;
  r: number;
  c: boolean;
}

interface SavedGroup {
  g: Record<string, unknown>;
  l: SavedSession[];
}

export class SessionWindows implements WindowStore {
  readonly #ctx: StoreContext;
  readonly #gap: number;
  #groups = new Map<string, GroupSessions>();
  #dirty = new Set<string>();
  #retracted: WindowRetraction[] = [];
  #closeAt = new TimeQueue();
  #purgeAt = new TimeQueue();
  #count = 0;

  constructor(ctx: StoreContext, gapMs: number) {
    this.#ctx = ctx;
    this.#gap = gapMs;
  }

  get size(): number {
    return this.#count;
  }

  add(group: Group, t: number, event: unknown, watermark: number): Lateness {
    const entry = this.#groups.get(group.key) ?? { group, sessions: [] };
    const touching = entry.sessions.filter((s) => s.start <= t + this.#gap && s.end >= t);
    const start = Math.min(t, ...touching.map((s) => s.start));
    const end = Math.max(t + this.#gap, ...touching.map((s) => s.end));
    if (end + this.#ctx.allowedLatenessMs <= watermark) return 'tooLate';
    const survivor = touching.find((s) => s.start === start);
    const base: Accumulators = touching.length === 1 ? touching[0]! : this.#ctx.measures.combine(touching);
    // On a copy, so that a failing measure leaves every session as it was.
    const merged: Accumulators = { accs: base.accs, events: base.events };
    this.#ctx.measures.add(merged, event);
    const session: Session = {
      ...merged,
      start,
      end,
      revision: survivor?.revision ?? 0,
      closed: end <= watermark,
      dirty: true,
    };
    for (const s of touching) {
      if (s === survivor || s.revision === 0) continue;
      this.#retracted.push({
        aggregation: this.#ctx.aggregation,
        groupKey: group.key,
        windowStart: s.start,
        windowEnd: s.end,
        revision: s.revision + 1,
        updatedAt: 0,
      });
    }
    entry.sessions = [...entry.sessions.filter((s) => !touching.includes(s)), session].sort(
      (a, b) => a.start - b.start,
    );
    this.#count += 1 - touching.length;
    this.#groups.set(group.key, entry);
    this.#dirty.add(group.key);
    if (session.closed) this.#purgeAt.push(end + this.#ctx.allowedLatenessMs, group.key);
    else this.#closeAt.push(end, group.key);
    return end <= watermark ? 'late' : 'onTime';
  }

  advance(watermark: number): void {
    for (const { key } of this.#closeAt.popDue(watermark)) {
      const entry = this.#groups.get(key);
      if (!entry) continue;
      for (const s of entry.sessions) {
        if (s.closed || s.end > watermark) continue;
        s.closed = true;
        s.dirty = true;
        this.#dirty.add(key);
        this.#purgeAt.push(s.end + this.#ctx.allowedLatenessMs, key);
      }
    }
  }

  drain(watermark: number, now: number, out: Emissions): void {
    for (const r of this.#retracted) out.retractions.push({ ...r, updatedAt: now });
    this.#retracted = [];
    const touched = this.#dirty;
    this.#dirty = new Set();
    for (const { key } of this.#purgeAt.popDue(watermark)) touched.add(key);
    for (const key of touched) {
      const entry = this.#groups.get(key);
      if (!entry) continue;
      let changed = false;
      for (const s of entry.sessions) {
        if (!s.dirty) continue;
        changed = true;
        s.dirty = false;
        s.revision++;
        out.results.push(windowResult(this.#ctx, entry.group, s.start, s.end, s, s.revision, s.closed, now));
      }
      // Emitted first, then let go once past the lateness: a session may close and go in one drain.
      const kept = entry.sessions.filter((s) => !(s.closed && s.end + this.#ctx.allowedLatenessMs <= watermark));
      if (!changed && kept.length === entry.sessions.length) continue;
      this.#count -= entry.sessions.length - kept.length;
      entry.sessions = kept;
      if (kept.length === 0) {
        this.#groups.delete(key);
        out.changes.set(`s${SEP}${key}`, null);
        continue;
      }
      const saved: SavedGroup = {
        g: entry.group.values,
        l: kept.map((s) => ({ s: s.start, e: s.end, r: s.revision, c: s.closed, ...this.#ctx.measures.save(s) })),
      };
      out.changes.set(`s${SEP}${key}`, saved);
    }
  }

  restore(key: string, value: unknown): void {
    const [kind, groupKey] = key.split(SEP);
    if (kind !== 's' || groupKey === undefined) return;
    const saved = value as SavedGroup;
    const sessions = saved.l.map((s) => ({
      ...this.#ctx.measures.load(s),
      start: s.s,
      end: s.e,
      revision: s.r,
      closed: s.c,
      dirty: false,
    }));
    this.#groups.set(groupKey, { group: { key: groupKey, values: saved.g }, sessions });
    this.#count += sessions.length;
    for (const s of sessions) {
      if (s.closed) this.#purgeAt.push(s.end + this.#ctx.allowedLatenessMs, groupKey);
      else this.#closeAt.push(s.end, groupKey);
    }
  }
}
