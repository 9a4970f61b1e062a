/**
 * Benchmark: the aggregation engine alone, one core, on events already parsed, against a
 * hand-written loop computing the same thing in the same run. Run it with
 * `npm run bench:engine`.
 *
 *   node bench/engine.ts [--events 1000000] [--keys 1000]
 *
 * Three workloads, each over the same events (1,000 keys, event time 1 ms apart with up to
 * 50 ms of disorder), drained every 5,000 events as the processor drains a batch:
 * - tumbling count: 10 s windows, Count by key; the loop keeps a Map of counts by key and
 *   window and closes windows behind a watermark;
 * - sliding p99: 60 s windows every 10 s, the 99th percentile of a value by key (DDSketch in
 *   Weir); the loop keeps each window's values and sorts them when it closes (exact);
 * - session count: 30 s gap, Count by key; the loop keeps each key's open session.
 * The baselines know nothing but their one case: no lateness, no state for a changelog, no
 * results for sinks. The ratio says what the engine's generality costs.
 */
import { parseArgs } from 'node:util';
import { PipelineSpec } from '../crds/pipeline.ts';
import { FakeClock } from '../lib/clock/clock.ts';
import { AggregationEngine } from '../dataplane/processor/engine/aggregation-engine.ts';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '1000000' }, keys: { type: 'string', default: '1000' } },
});
const EVENTS = Number(values.events);
const KEYS = Number(values.keys);
const BATCH = 5_000;
/** Arrival rate the clock is moved by: 100,000 events/s, a busy processor. */
const EVENTS_PER_MS = 100;
const OOO = 100;

interface Event {
  user: string;
  ts: number;
  amount: number;
}

/** A seeded generator, so that every run and every side sees the same events. */
function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = generator(42);
const base = Date.parse('2026-06-01T00:00:00Z');
const events: Event[] = Array.from({ length: EVENTS }, (_, i) => ({
  user: `user-${Math.floor(random() * KEYS)}`,
  ts: base + i - Math.floor(random() * 50),
  amount: 1 + Math.floor(random() * 1000),
}));

function weir(window: Record<string, string>, measures: unknown[]): { seconds: number; results: number } {
  const spec = PipelineSpec.parse({
    aggregate: [
      {
        name: 'a',
        window,
        eventTime: { field: '/ts', maxOutOfOrderness: `${OOO}ms`, idleTimeout: '1h' },
        groupBy: ['/user'],
        measures,
      },
    ],
  });
  // The clock moves as events arrive at EVENTS_PER_MS; an open window's current result goes
  // out at most once a second, as in the processor.
  const clock = new FakeClock({ now: base });
  const engine = new AggregationEngine({
    aggregations: spec.aggregate!,
    clock,
    partitions: [0],
    resultIntervalMs: 1_000,
  });
  let results = 0;
  const started = performance.now();
  for (let i = 0; i < events.length; i++) {
    engine.process({ partition: 0, event: events[i] });
    if ((i + 1) % BATCH === 0) {
      void clock.set(base + (i + 1) / EVENTS_PER_MS);
      results += engine.drain().results.length;
    }
  }
  results += engine.drain().results.length;
  return { seconds: (performance.now() - started) / 1000, results };
}

function tumblingLoop(): number {
  const size = 10_000;
  const counts = new Map<string, number>();
  let nextEnd = Math.floor(events[0]!.ts / size) * size + size;
  let closed = 0;
  for (const e of events) {
    const start = Math.floor(e.ts / size) * size;
    const key = `${e.user}|${start}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    // Once the watermark passes a window end, every window ending there is closed.
    if (e.ts - OOO >= nextEnd) {
      for (const [k] of counts)
        if (Number(k.slice(k.indexOf('|') + 1)) + size <= e.ts - OOO) {
          counts.delete(k);
          closed++;
        }
      nextEnd += size;
    }
  }
  return closed + counts.size;
}

function slidingLoop(): number {
  const size = 60_000;
  const slide = 10_000;
  const windows = new Map<string, number[]>();
  let nextEnd = Math.floor(events[0]!.ts / slide) * slide + slide;
  let closed = 0;
  const close = (watermark: number) => {
    for (const [k, values] of windows) {
      if (Number(k.slice(k.indexOf('|') + 1)) + size > watermark) continue;
      values.sort((a, b) => a - b);
      closed += values[Math.floor(0.99 * (values.length - 1))]! >= 0 ? 1 : 0;
      windows.delete(k);
    }
  };
  for (const e of events) {
    for (let start = Math.floor(e.ts / slide) * slide; start + size > e.ts; start -= slide) {
      const key = `${e.user}|${start}`;
      const list = windows.get(key);
      if (list) list.push(e.amount);
      else windows.set(key, [e.amount]);
    }
    if (e.ts - OOO >= nextEnd) {
      close(e.ts - OOO);
      nextEnd += slide;
    }
  }
  return closed + windows.size;
}

function sessionLoop(): number {
  const gap = 30_000;
  const open = new Map<string, { start: number; last: number; n: number }>();
  let closed = 0;
  for (const e of events) {
    const s = open.get(e.user);
    if (s && e.ts <= s.last + gap) {
      s.last = Math.max(s.last, e.ts);
      s.start = Math.min(s.start, e.ts);
      s.n++;
    } else {
      if (s) closed++;
      open.set(e.user, { start: e.ts, last: e.ts, n: 1 });
    }
  }
  return closed + open.size;
}

function timed(loop: () => number): number {
  const started = performance.now();
  loop();
  return (performance.now() - started) / 1000;
}

const rate = (s: number) => Math.round(EVENTS / s).toLocaleString('en');
const cases: [string, () => { seconds: number; results: number }, () => number][] = [
  [
    'tumbling count (10 s)',
    () => weir({ type: 'Tumbling', size: '10s' }, [{ name: 'n', type: 'Count' }]),
    tumblingLoop,
  ],
  [
    'sliding p99 (60 s / 10 s)',
    () =>
      weir({ type: 'Sliding', size: '60s', slide: '10s' }, [
        { name: 'p', type: 'Percentiles', field: '/amount', percentiles: [99] },
      ]),
    slidingLoop,
  ],
  [
    'session count (30 s gap)',
    () => weir({ type: 'Session', gap: '30s' }, [{ name: 'n', type: 'Count' }]),
    sessionLoop,
  ],
];
console.log(`${EVENTS.toLocaleString('en')} events, ${KEYS} keys, one core (Node ${process.version})`);
for (const [name, run, loop] of cases) {
  // Each side once to warm up the JIT, then measured.
  run();
  loop();
  const w = run();
  const b = timed(loop);
  console.log(
    `${name.padEnd(27)} Weir ${rate(w.seconds).padStart(10)} events/s   loop ${rate(b).padStart(10)} events/s   ratio ${(b / w.seconds).toFixed(3)}   (${w.results.toLocaleString('en')} results emitted)`,
  );
}
