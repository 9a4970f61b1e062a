/**
 * The engine against a straightforward, independent computation of the same spec: for
 * every window type and every measure, the same fixed events — in order, out of order,
 * late and too late — must give the same classification and the same final results.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { QuickJSWASMModule } from 'quickjs-emscripten-core';
import { PipelineSpec } from '../../../crds/pipeline.ts';
import { FakeClock } from '../../../lib/clock/clock.ts';
import type { WindowResult, WindowRetraction } from '../../../lib/platform/results.ts';
import { AggregationEngine } from './aggregation-engine.ts';
import { FunctionSandbox, loadSandboxModule } from './function-sandbox.ts';
import { fixedEvents } from './testing/fixed-events.ts';
import { oracle, type OracleEvent, type OracleSpec } from './testing/oracle.ts';

let wasm: QuickJSWASMModule;
before(async () => {
  wasm = await loadSandboxModule();
});

const SQUARES = `({ init() { return 0 }, add(acc, v) { return v === null ? acc : acc + v * v },
  merge(a, b) { return a + b }, result(acc) { return acc } })`;

const MEASURES = [
  { name: 'n', type: 'Count' },
  { name: 'total', type: 'Sum', field: '/amount' },
  { name: 'mean', type: 'Avg', field: '/amount' },
  { name: 'low', type: 'Min', field: '/amount' },
  { name: 'high', type: 'Max', field: '/amount' },
  { name: 'buyers', type: 'Distinct', field: '/buyer' },
  { name: 'pct', type: 'Percentiles', field: '/amount', percentiles: [50, 90, 99] },
  { name: 'squares', type: 'Function', field: '/amount', function: 'squares' },
];

function specOf(window: Record<string, string>, extra: Record<string, unknown> = {}) {
  return PipelineSpec.parse({
    aggregate: [
      {
        name: 'agg',
        window,
        eventTime: { field: '/ts', maxOutOfOrderness: '5s', idleTimeout: '1h' },
        allowedLateness: '10s',
        groupBy: ['/user'],
        measures: MEASURES,
        ...extra,
      },
    ],
    functions: [{ name: 'squares', source: SQUARES }],
  });
}

function sandboxes() {
  return new Map([
    ['squares', new FunctionSandbox(wasm, { name: 'squares', source: SQUARES, timeoutMs: 50, memoryBytes: 8 << 20 })],
  ]);
}

/** Runs the engine over the events, draining every `batch` records, then lets the clock close every window. */
function runEngine(spec: OracleSpec, events: OracleEvent[], batch = 1) {
  const clock = new FakeClock({ now: 1_000_000 });
  const functions = sandboxes();
  const engine = new AggregationEngine({ aggregations: spec.aggregate!, functions, clock, partitions: [0] });
  const results: WindowResult[] = [];
  const retractions: WindowRetraction[] = [];
  const classes: string[] = [];
  const drain = () => {
    const out = engine.drain();
    results.push(...out.results);
    retractions.push(...out.retractions);
  };
  for (const [i, e] of events.entries()) {
    const rejections = engine.process({ partition: e.partition, event: e.event });
    const before = classes.length;
    classes.push(rejections.length ? rejections[0]!.reason : 'accepted');
    assert.equal(classes.length, before + 1);
    if ((i + 1) % batch === 0) drain();
  }
  drain();
  return { engine, clock, results, retractions, classes, functions, drain };
}

/** The last result of every window, as a sink would keep it: retracted sessions are gone. */
function finalResults(results: WindowResult[], retractions: WindowRetraction[] = []): Map<string, WindowResult> {
  const last = new Map<string, WindowResult>();
  for (const r of results) {
    const key = `${r.groupKey}@${r.windowStart}`;
    const prev = last.get(key);
    assert.ok(!prev || r.revision > prev.revision, `revisions of ${key} must increase`);
    last.set(key, r);
  }
  for (const r of retractions) {
    const key = `${r.groupKey}@${r.windowStart}`;
    if ((last.get(key)?.revision ?? Infinity) < r.revision) last.delete(key);
  }
  return last;
}

function assertSameResults(actual: Map<string, WindowResult>, expected: ReturnType<typeof oracle>['windows']) {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [key, want] of expected) {
    const got = actual.get(key)!;
    assert.equal(got.windowEnd, want.end, `${key} end`);
    assert.equal(got.events, want.count, `${key} events`);
    const m = got.measures as Record<string, unknown>;
    assert.equal(m.n, want.count, `${key} count`);
    assert.equal(m.total, want.sum, `${key} sum`);
    assert.equal(m.mean, want.count ? want.sum / want.count : null, `${key} avg`);
    assert.equal(m.low, want.min, `${key} min`);
    assert.equal(m.high, want.max, `${key} max`);
    assert.equal(m.buyers, want.distinct, `${key} distinct`);
    assert.equal(m.squares, want.squares, `${key} function`);
    const pct = m.pct as Record<string, number>;
    for (const [name, exact] of Object.entries(want.percentiles))
      assert.ok(
        Math.abs(pct[name]! - exact) <= 0.01 * Math.abs(exact),
        `${key} ${name}: ${pct[name]} vs exact ${exact}`,
      );
  }
}

const WINDOWS: { name: string; window: Record<string, string>; counts: [number, number, number] }[] = [
  { name: 'tumbling windows of 60 s', window: { type: 'Tumbling', size: '60s' }, counts: [13, 4, 4] },
  {
    name: 'sliding windows of 60 s every 20 s',
    window: { type: 'Sliding', size: '60s', slide: '20s' },
    counts: [13, 3, 5],
  },
  { name: 'session windows with a 15 s gap', window: { type: 'Session', gap: '15s' }, counts: [16, 3, 2] },
];

describe('the aggregation engine', () => {
  for (const { name, window, counts } of WINDOWS) {
    describe(`over ${name}`, () => {
      const spec = specOf(window);
      const events = fixedEvents();
      const expected = oracle(spec, events);

      it('classifies every event as the independent computation does, on time, late or too late', () => {
        const { classes, engine } = runEngine(spec, events);
        const mapped = expected.classes.map((c) => (c === 'tooLate' ? 'TooLate' : 'accepted'));
        assert.deepEqual(classes, mapped);
        const c = engine.counts().get('agg')!;
        assert.deepEqual([c.onTime, c.late, c.tooLate], counts, 'on time, late, too late');
        assert.deepEqual(
          [c.onTime, c.late, c.tooLate],
          ['onTime', 'late', 'tooLate'].map((k) => expected.classes.filter((x) => x === k).length),
        );
        // Nothing silently dropped: every event is counted exactly once.
        assert.equal(c.onTime + c.late + c.tooLate + c.rejected, events.length);
      });

      it('gives every window the results of the independent computation, for every measure', () => {
        const run = runEngine(spec, events);
        assertSameResults(finalResults(run.results, run.retractions), expected.windows);
      });

      it('closes every window once the clock shows all partitions idle, and emits each final', async () => {
        const run = runEngine(
          specOf(window, { eventTime: { field: '/ts', maxOutOfOrderness: '5s', idleTimeout: '2s' } }),
          events,
        );
        const before = finalResults(run.results, run.retractions);
        assert.ok(
          [...before.values()].some((r) => !r.final),
          'some windows are still open before the clock moves',
        );
        await run.clock.advance(2_000 + 400_000);
        run.engine.tick();
        run.drain();
        const after = finalResults(run.results, run.retractions);
        assert.ok(
          [...after.values()].every((r) => r.final),
          'every window final',
        );
        assertSameResults(after, expected.windows);
        assert.equal(run.engine.windows().get('agg'), 0, 'state of windows past their lateness is let go');
      });

      it('re-emits a closed window corrected by a late event, with a higher revision', () => {
        const run = runEngine(spec, events);
        const firstFinal = new Map<string, WindowResult>();
        const corrected = new Set<string>();
        for (const r of run.results) {
          const key = `${r.groupKey}@${r.windowStart}`;
          const seen = firstFinal.get(key);
          if (r.final && !seen) firstFinal.set(key, r);
          else if (r.final && seen && r.revision > seen.revision) corrected.add(key);
        }
        assert.ok(corrected.size > 0, 'at least one window corrected after it closed');
      });

      it('gives the same results however records are batched between drains', () => {
        for (const batch of [2, 5, 100]) {
          const run = runEngine(spec, events, batch);
          assertSameResults(finalResults(run.results, run.retractions), expected.windows);
        }
      });

      it('resumes from its drained state in a new engine as if it had never stopped', () => {
        for (const cut of [3, 8, 14]) {
          const clock = new FakeClock({ now: 1_000_000 });
          const functions = sandboxes();
          const options = { aggregations: spec.aggregate!, functions, clock, partitions: [0] };
          const first = new AggregationEngine(options);
          const results: WindowResult[] = [];
          const retractions: WindowRetraction[] = [];
          // A compacted changelog: the last value of every key.
          const changelog = new Map<string, unknown>();
          const feed = (engine: AggregationEngine, part: OracleEvent[]) => {
            for (const e of part) {
              engine.process({ partition: 0, event: e.event });
              const out = engine.drain();
              results.push(...out.results);
              retractions.push(...out.retractions);
              for (const [k, v] of out.changes) changelog.set(k, v);
            }
          };
          feed(first, events.slice(0, cut));
          const second = new AggregationEngine(options);
          second.restore(new Map(JSON.parse(JSON.stringify([...changelog])) as [string, unknown][]));
          feed(second, events.slice(cut));
          assert.deepEqual(second.counts().get('agg')!.tooLate + first.counts().get('agg')!.tooLate, counts[2]);
          assertSameResults(finalResults(results, retractions), expected.windows);
        }
      });
    });
  }
});

describe('the aggregation engine, refusing events', () => {
  const spec = specOf({ type: 'Tumbling', size: '60s' });

  it('refuses an event without a usable event time, naming the field, and counts it', () => {
    const { engine } = runEngine(spec, []);
    for (const ts of [undefined, 'yesterday', '2026-01-01', true, Number.NaN]) {
      const [r] = engine.process({ partition: 0, event: { ts, user: 'u1', amount: 1 } });
      assert.equal(r?.reason, 'InvalidEventTime');
      assert.match(r!.message, /\/ts must be an RFC 3339 time or epoch milliseconds/);
    }
    assert.deepEqual(
      engine.process({ partition: 0, event: { ts: '2026-01-01T00:00:01.5+01:00', user: 'u1', amount: 1 } }),
      [],
    );
    assert.equal(engine.counts().get('agg')!.rejected, 5);
    assert.equal(engine.drain().results[0]!.windowStart, Date.parse('2025-12-31T23:00:00Z'));
  });

  it('refuses an event a user-defined function fails on, and leaves its window as it was', () => {
    const failing = PipelineSpec.parse({
      aggregate: [
        {
          name: 'agg',
          window: { type: 'Tumbling', size: '60s' },
          eventTime: { field: '/ts' },
          measures: [
            { name: 'n', type: 'Count' },
            { name: 'f', type: 'Function', field: '/amount', function: 'picky' },
          ],
        },
      ],
      functions: [
        {
          name: 'picky',
          source: `({ init() { return 0 }, add(a, v) { if (v < 0) throw new RangeError('negative'); return a + v }, merge(a, b) { return a + b }, result(a) { return a } })`,
        },
      ],
    });
    const clock = new FakeClock();
    const functions = new Map([
      [
        'picky',
        new FunctionSandbox(wasm, {
          name: 'picky',
          source: failing.functions![0]!.source,
          timeoutMs: 50,
          memoryBytes: 8 << 20,
        }),
      ],
    ]);
    const engine = new AggregationEngine({ aggregations: failing.aggregate!, functions, clock, partitions: [0] });
    engine.process({ partition: 0, event: { ts: 1_000, amount: 2 } });
    const [r] = engine.process({ partition: 0, event: { ts: 2_000, amount: -1 } });
    assert.equal(r?.reason, 'FunctionFailed');
    assert.match(r!.message, /function picky\.add threw RangeError: negative/);
    const [result] = engine.drain().results;
    assert.deepEqual(result!.measures, { n: 1, f: 2 });
    assert.deepEqual(engine.counts().get('agg'), { onTime: 1, late: 0, tooLate: 0, rejected: 1 });
  });

  it('closes windows of one partition only as far as the slowest partition allows', () => {
    const clock = new FakeClock();
    const engine = new AggregationEngine({
      aggregations: spec.aggregate!,
      functions: sandboxes(),
      clock,
      partitions: [0, 1],
    });
    engine.process({ partition: 0, event: { ts: 10_000, user: 'u', amount: 1, buyer: 'b' } });
    engine.process({ partition: 0, event: { ts: 200_000, user: 'u', amount: 1, buyer: 'b' } });
    assert.ok(
      engine.drain().results.every((r) => !r.final),
      'partition 1 has had no event: nothing closes',
    );
    engine.process({ partition: 1, event: { ts: 70_000, user: 'u', amount: 1, buyer: 'b' } });
    const closed = engine.drain().results.filter((r) => r.final);
    assert.deepEqual(
      closed.map((r) => r.windowStart),
      [0],
    );
    // An event of the slow partition for the first window is still only late, not too late.
    assert.deepEqual(engine.process({ partition: 1, event: { ts: 59_000, user: 'u', amount: 1, buyer: 'b' } }), []);
    assert.equal(engine.counts().get('agg')!.late, 1);
  });
});
