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
  /** Its result has not gone out since it changed. */
  pending: boolean;
  /** When its result last went out (not saved: a restored open session goes out again once). */
  emittedAt: number;
}

interface GroupSessions {
  group: Group;
  /** Disjoint sessions in order of start. */
  sessions: Session[];
  /** Whether the changelog holds the group: one that comes and goes between two drains needs no tombstone. */
  persisted: boolean;
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
  /** Groups whose saved state changed since the last drain. */
  #changed = new Set<string>();
  /** Groups with a session whose result has not gone out. */
  #pendingGroups = new Set<string>();
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
    const entry = this.#groups.get(group.key) ?? { group, sessions: [], persisted: false };
    const touching = entry.sessions.filter((s) => s.start <= t + this.#gap && s.end >= t);
    let start = t;
    let end = t + this.#gap;
    for (const s of touching) {
      if (s.start < start) start = s.start;
      if (s.end > end) end = s.end;
    }
    if (end + this.#ctx.allowedLatenessMs <= watermark) return 'tooLate';
    const only = touching.length === 1 ? touching[0]! : undefined;
    if (only && only.start === start) {
      // The common case: the event falls in (or extends) one session, which keeps its start.
      this.#ctx.measures.add(only, event);
      if (end !== only.end || (only.closed && end > watermark)) {
        only.end = end;
        only.closed = end <= watermark;
        if (only.closed) this.#purgeAt.push(end + this.#ctx.allowedLatenessMs, group.key);
        else this.#closeAt.push(end, group.key);
      }
      only.pending = true;
    } else {
      const survivor = touching.find((s) => s.start === start);
      const base: Accumulators = only ?? this.#ctx.measures.combine(touching);
      // On a copy, so that a failing measure leaves every session as it was.
      const merged: Accumulators = { accs: base.accs, events: base.events };
      this.#ctx.measures.add(merged, event);
      const session: Session = {
        ...merged,
        start,
        end,
        revision: survivor?.revision ?? 0,
        closed: end <= watermark,
        pending: true,
        emittedAt: survivor?.emittedAt ?? Number.NEGATIVE_INFINITY,
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
      if (session.closed) this.#purgeAt.push(end + this.#ctx.allowedLatenessMs, group.key);
      else this.#closeAt.push(end, group.key);
    }
    this.#changed.add(group.key);
    this.#pendingGroups.add(group.key);
    return end <= watermark ? 'late' : 'onTime';
  }

  advance(watermark: number): void {
    for (const { key } of this.#closeAt.popDue(watermark)) {
      const entry = this.#groups.get(key);
      if (!entry) continue;
      for (const s of entry.sessions) {
        if (s.closed || s.end > watermark) continue;
        s.closed = true;
        s.pending = true;
        this.#changed.add(key);
        this.#pendingGroups.add(key);
        this.#purgeAt.push(s.end + this.#ctx.allowedLatenessMs, key);
      }
    }
  }

  drain(watermark: number, now: number, out: Emissions): void {
    for (const r of this.#retracted) out.retractions.push({ ...r, updatedAt: now });
    this.#retracted = [];
    const touched = new Set([...this.#changed, ...this.#pendingGroups]);
    for (const { key } of this.#purgeAt.popDue(watermark)) touched.add(key);
    for (const key of touched) {
      const entry = this.#groups.get(key);
      if (!entry) {
        this.#pendingGroups.delete(key);
        continue;
      }
      let changed = this.#changed.has(key);
      let stillPending = false;
      for (const s of entry.sessions) {
        if (!s.pending) continue;
        if (!s.closed && now - s.emittedAt < this.#ctx.resultIntervalMs) {
          stillPending = true;
          continue;
        }
        changed = true;
        s.pending = false;
        s.revision++;
        s.emittedAt = now;
        out.results.push(windowResult(this.#ctx, entry.group, s.start, s.end, s, s.revision, s.closed, now));
      }
      if (stillPending) this.#pendingGroups.add(key);
      else this.#pendingGroups.delete(key);
      // Emitted first, then let go once past the lateness: a session may close and go in one drain.
      const kept = entry.sessions.filter((s) => !(s.closed && s.end + this.#ctx.allowedLatenessMs <= watermark));
      if (!changed && kept.length === entry.sessions.length) continue;
      this.#count -= entry.sessions.length - kept.length;
      entry.sessions = kept;
      if (kept.length === 0) {
        this.#groups.delete(key);
        this.#pendingGroups.delete(key);
        if (entry.persisted) out.changes.set(`s${SEP}${key}`, null);
        continue;
      }
      const saved: SavedGroup = {
        g: entry.group.values,
        l: kept.map((s) => ({ s: s.start, e: s.end, r: s.revision, c: s.closed, ...this.#ctx.measures.save(s) })),
      };
      out.changes.set(`s${SEP}${key}`, saved);
      entry.persisted = true;
    }
    this.#changed.clear();
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
      // An open session's current result may not have gone out before the restart.
      pending: !s.c,
      emittedAt: Number.NEGATIVE_INFINITY,
    }));
    this.#groups.set(groupKey, { group: { key: groupKey, values: saved.g }, sessions, persisted: true });
    this.#count += sessions.length;
    if (sessions.some((s) => s.pending)) this.#pendingGroups.add(groupKey);
    for (const s of sessions) {
      if (s.closed) this.#purgeAt.push(s.end + this.#ctx.allowedLatenessMs, groupKey);
      else this.#closeAt.push(s.end, groupKey);
    }
  }
}
