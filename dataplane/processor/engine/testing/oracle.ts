/**
 * A straightforward computation of what the engine should produce for one aggregation, for
 * tests to compare against: the watermark replayed event by event, each event's windows
 * found by brute force, sessions rebuilt from scratch, and every measure computed exactly
 * from the accepted events. It shares no code with the engine.
 */
import type { PipelineSpec } from '../../../../crds/pipeline.ts';
import { durationMs } from '../../../../lib/platform/duration.ts';

export type OracleSpec = PipelineSpec;

export interface OracleEvent {
  partition: number;
  /** Event time, epoch ms (the event's /ts). */
  t: number;
  event: { ts: number; user: string; amount: number; buyer: string };
}

export interface ExpectedWindow {
  end: number;
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
  distinct: number;
  squares: number;
  percentiles: Record<string, number>;
}

type Class = 'onTime' | 'late' | 'tooLate';

/** Sessions of sorted times: consecutive times at most `gap` apart share one; [first, last + gap). */
function sessionsOf(times: number[], gap: number): [number, number][] {
  const sorted = [...times].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const t of sorted) {
    const last = out.at(-1);
    if (last && t <= last[1]) last[1] = t + gap;
    else out.push([t, t + gap]);
  }
  return out;
}

/** Every [start, end) window of a tumbling or sliding aggregation that holds t, found by walking back from t. */
function windowsOf(t: number, size: number, slide: number): [number, number][] {
  const out: [number, number][] = [];
  for (let start = Math.floor(t / slide) * slide; start + size > t; start -= slide) out.unshift([start, start + size]);
  return out;
}

export function oracle(spec: OracleSpec, events: OracleEvent[]) {
  const agg = spec.aggregate![0]!;
  const ooo = durationMs(agg.eventTime.maxOutOfOrderness);
  const lateness = durationMs(agg.allowedLateness);
  const w = agg.window;
  const classes: Class[] = [];
  const accepted: OracleEvent[] = [];
  let watermark = Number.NEGATIVE_INFINITY;
  const newest = new Map<number, number>();
  for (const e of events) {
    let end: number;
    if (w.type === 'Session') {
      const mine = accepted.filter((a) => a.event.user === e.event.user).map((a) => a.t);
      end = sessionsOf([...mine, e.t], durationMs(w.gap!)).find(([s, en]) => s <= e.t && e.t < en)![1];
    } else {
      const size = durationMs(w.size!);
      end = Math.min(...windowsOf(e.t, size, w.type === 'Sliding' ? durationMs(w.slide!) : size).map(([, en]) => en));
    }
    const c: Class = end + lateness <= watermark ? 'tooLate' : end <= watermark ? 'late' : 'onTime';
    classes.push(c);
    if (c !== 'tooLate') accepted.push(e);
    newest.set(e.partition, Math.max(newest.get(e.partition) ?? Number.NEGATIVE_INFINITY, e.t));
    watermark = Math.max(watermark, Math.min(...newest.values()) - ooo);
  }

  const buckets = new Map<string, { end: number; events: OracleEvent[] }>();
  const put = (user: string, start: number, end: number, e: OracleEvent) => {
    const key = `${JSON.stringify([user])}@${start}`;
    const b = buckets.get(key) ?? { end, events: [] };
    b.events.push(e);
    buckets.set(key, b);
  };
  if (w.type === 'Session') {
    for (const user of new Set(accepted.map((a) => a.event.user))) {
      const mine = accepted.filter((a) => a.event.user === user);
      for (const [start, end] of sessionsOf(
        mine.map((a) => a.t),
        durationMs(w.gap!),
      ))
        for (const e of mine) if (e.t >= start && e.t < end) put(user, start, end, e);
    }
  } else {
    const size = durationMs(w.size!);
    for (const e of accepted)
      for (const [start, end] of windowsOf(e.t, size, w.type === 'Sliding' ? durationMs(w.slide!) : size))
        put(e.event.user, start, end, e);
  }

  const percentiles = agg.measures.find((m) => m.type === 'Percentiles')?.percentiles ?? [];
  const windows = new Map<string, ExpectedWindow>();
  for (const [key, b] of buckets) {
    const amounts = b.events.map((e) => e.event.amount);
    const sorted = [...amounts].sort((x, y) => x - y);
    windows.set(key, {
      end: b.end,
      count: amounts.length,
      sum: amounts.reduce((s, a) => s + a, 0),
      min: amounts.length ? Math.min(...amounts) : null,
      max: amounts.length ? Math.max(...amounts) : null,
      distinct: new Set(b.events.map((e) => e.event.buyer)).size,
      squares: amounts.reduce((s, a) => s + a * a, 0),
      percentiles: Object.fromEntries(
        percentiles.map((p) => [`p${p}`, sorted[Math.floor((p / 100) * (sorted.length - 1))]!]),
      ),
    });
  }
  return { classes, windows };
}
