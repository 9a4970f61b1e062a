/**
 * The aggregation engine of one task (one input partition, or all of them): the spec's
 * aggregations over event time, each with its own watermark and windows. It is a pure
 * module driven by its caller — records in, results and state changes out — with an
 * injected clock for idleness; it never talks to Kafka, Redis or Postgres.
 *
 * For every aggregation, each event is exactly one of: on time, late (within the allowed
 * lateness: its closed windows are corrected and emitted again), too late (rejected with a
 * reason, to be dead-lettered), or rejected for a missing event time or a failing
 * user-defined function. {@link AggregationEngine.counts} counts the four, so that events
 * in = on time + late + too late + rejected, exactly.
 *
 * The watermark moves after every event, not per batch, so how records are batched does
 * not change which of them are late. State leaves through {@link AggregationEngine.drain}
 * as keyed changes for the changelog and comes back through {@link AggregationEngine.restore}.
 */
import type { Aggregation } from '../../../crds/pipeline.ts';
import type { Clock } from '../../../lib/clock/clock.ts';
import { Errors, hasCode } from '../../../lib/errors/errors.ts';
import { durationMs } from '../../../lib/platform/duration.ts';
import type { z } from 'zod';
import { MeasureSet } from './accumulators.ts';
import { eventTimeMs, fieldReader, groupReader, type FieldReader, type Group } from './event-fields.ts';
import type { FunctionSandbox } from './function-sandbox.ts';
import { measureOps } from './measures.ts';
import { SessionWindows } from './session-windows.ts';
import { SlidingWindows } from './sliding-windows.ts';
import { TumblingWindows } from './tumbling-windows.ts';
import { WatermarkTracker, type WatermarkState } from './watermark-tracker.ts';
import { SEP, type Emissions, type WindowStore } from './window-store.ts';

type AggregationSpec = z.output<typeof Aggregation>;

/** One input record as the engine sees it: parsed, enriched and masked. */
export interface EngineRecord {
  /** The input partition it came from. */
  partition: number;
  event: unknown;
  /** A retried record is judged against the watermark but does not move it: its time is old news. */
  retried?: boolean;
}

/** Why an aggregation refused an event; the caller dead-letters it with these. */
export type RejectionReason = 'InvalidEventTime' | 'TooLate' | 'FunctionFailed';

export interface Rejection {
  aggregation: string;
  reason: RejectionReason;
  message: string;
}

/** What became of the events an aggregation was given. */
export interface AggregationCounts {
  onTime: number;
  late: number;
  tooLate: number;
  rejected: number;
}

interface CompiledAggregation {
  name: string;
  readTime: FieldReader;
  timeField: string;
  group: (event: unknown) => Group;
  tracker: WatermarkTracker;
  store: WindowStore;
  latenessMs: number;
  counts: AggregationCounts;
  metaDirty: boolean;
}

export interface AggregationEngineOptions {
  aggregations: readonly AggregationSpec[];
  /** Sandboxes of spec.functions by name, for Function measures. */
  functions?: ReadonlyMap<string, FunctionSandbox>;
  clock: Clock;
  /** The input partitions this engine's task reads. */
  partitions: readonly number[];
  /** Least time between two results of an open window; 0 (every drain) unless given. The processor uses 1 s. */
  resultIntervalMs?: number;
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

function storeFor(spec: AggregationSpec, measures: MeasureSet, resultIntervalMs: number): WindowStore {
  const ctx = {
    aggregation: spec.name,
    measures,
    allowedLatenessMs: durationMs(spec.allowedLateness),
    resultIntervalMs,
  };
  const w = spec.window;
  switch (w.type) {
    case 'Tumbling':
      return new TumblingWindows(ctx, durationMs(w.size!));
    case 'Sliding':
      return new SlidingWindows(ctx, durationMs(w.size!), durationMs(w.slide!));
    case 'Session':
      return new SessionWindows(ctx, durationMs(w.gap!));
  }
}

export class AggregationEngine {
  readonly #clock: Clock;
  readonly #aggregations: CompiledAggregation[];

  constructor(options: AggregationEngineOptions) {
    this.#clock = options.clock;
    const now = options.clock.now();
    this.#aggregations = options.aggregations.map((spec) => {
      const ops = spec.measures.map((m) => measureOps(m, options.functions ?? new Map()));
      const measures = new MeasureSet(ops, (i) => spec.measures[i]!.type === 'Function');
      const tracker = new WatermarkTracker({
        maxOutOfOrdernessMs: durationMs(spec.eventTime.maxOutOfOrderness),
        idleTimeoutMs: durationMs(spec.eventTime.idleTimeout),
      });
      for (const p of options.partitions) tracker.assign(p, now);
      return {
        name: spec.name,
        readTime: fieldReader(spec.eventTime.field),
        timeField: spec.eventTime.field,
        group: groupReader(spec.groupBy ?? []),
        tracker,
        store: storeFor(spec, measures, options.resultIntervalMs ?? 0),
        latenessMs: durationMs(spec.allowedLateness),
        counts: { onTime: 0, late: 0, tooLate: 0, rejected: 0 },
        metaDirty: false,
      };
    });
  }

  /** Adds one record to every aggregation; returns the aggregations that refused it, and why. */
  process(record: EngineRecord): Rejection[] {
    const rejections: Rejection[] = [];
    const now = this.#clock.now();
    for (const agg of this.#aggregations) {
      const raw = agg.readTime(record.event);
      const t = eventTimeMs(raw);
      if (t === undefined) {
        agg.counts.rejected++;
        rejections.push({
          aggregation: agg.name,
          reason: 'InvalidEventTime',
          message: `${agg.timeField} must be an RFC 3339 time or epoch milliseconds; the event has ${raw === undefined ? 'none' : JSON.stringify(raw)}`,
        });
        continue;
      }
      const watermark = agg.tracker.watermark;
      let lateness;
      try {
        lateness = agg.store.add(agg.group(record.event), t, record.event, watermark);
      } catch (err) {
        if (!hasCode(err, Errors.UserFunctionFailed)) throw err;
        agg.counts.rejected++;
        rejections.push({ aggregation: agg.name, reason: 'FunctionFailed', message: err.message });
        continue;
      }
      agg.counts[lateness]++;
      if (lateness === 'tooLate')
        rejections.push({
          aggregation: agg.name,
          reason: 'TooLate',
          message: `event time ${iso(t)} is too late: the watermark is at ${iso(watermark)} and ${agg.name} allows ${agg.latenessMs} ms of lateness after a window closes`,
        });
      if (!record.retried) {
        agg.tracker.observe(record.partition, t, now);
        agg.metaDirty = true;
      }
      this.#advance(agg, now);
    }
    return rejections;
  }

  /** Moves every watermark to the clock (idle partitions) and closes what it passed. */
  tick(): void {
    const now = this.#clock.now();
    for (const agg of this.#aggregations) this.#advance(agg, now);
  }

  /** Results, retractions and state changes since the last drain. */
  drain(): Emissions {
    const out: Emissions = { results: [], retractions: [], changes: new Map() };
    const now = this.#clock.now();
    for (const agg of this.#aggregations) {
      const before = out.changes;
      out.changes = new Map();
      agg.store.drain(agg.tracker.watermark, now, out);
      for (const [key, value] of out.changes) before.set(`${agg.name}${SEP}${key}`, value);
      out.changes = before;
      if (agg.metaDirty) {
        out.changes.set(`${agg.name}${SEP}m`, agg.tracker.save());
        agg.metaDirty = false;
      }
    }
    return out;
  }

  /** Takes back the state of a changelog: the last value of every key, tombstones left out. */
  restore(state: ReadonlyMap<string, unknown>): void {
    const now = this.#clock.now();
    const byName = new Map(this.#aggregations.map((a) => [a.name, a]));
    for (const [key, value] of state) {
      if (value === null) continue;
      const at = key.indexOf(SEP);
      const agg = byName.get(key.slice(0, at));
      // State of an aggregation the spec no longer has is left behind.
      if (!agg) continue;
      const rest = key.slice(at + 1);
      if (rest === 'm') agg.tracker.restore(value as WatermarkState, now);
      else agg.store.restore(rest, value);
    }
    for (const agg of this.#aggregations) agg.store.advance(agg.tracker.watermark);
  }

  /** What became of the events, by aggregation. */
  counts(): Map<string, AggregationCounts> {
    return new Map(this.#aggregations.map((a) => [a.name, { ...a.counts }]));
  }

  /** The current watermark of an aggregation. */
  watermark(aggregation: string): number | undefined {
    return this.#aggregations.find((a) => a.name === aggregation)?.tracker.watermark;
  }

  /** Windows (or sessions) held per aggregation. */
  windows(): Map<string, number> {
    return new Map(this.#aggregations.map((a) => [a.name, a.store.size]));
  }

  #advance(agg: CompiledAggregation, now: number): void {
    const before = agg.tracker.watermark;
    const watermark = agg.tracker.advance(now);
    if (watermark === before) return;
    agg.store.advance(watermark);
    agg.metaDirty = true;
  }
}
