import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NO_WATERMARK, WatermarkTracker } from './watermark-tracker.ts';

/** Steps of a table row: [clock ms, partition, event time] to observe, or [clock ms] to only advance. */
type Step = [now: number, partition?: number, eventTime?: number];

function run(partitions: number[], steps: Step[], idleTimeoutMs = 1_000): number[] {
  const tracker = new WatermarkTracker({ maxOutOfOrdernessMs: 100, idleTimeoutMs });
  for (const p of partitions) tracker.assign(p, 0);
  return steps.map(([now, partition, t]) => {
    if (partition !== undefined && t !== undefined) tracker.observe(partition, t, now);
    return tracker.advance(now);
  });
}

const CASES: { name: string; partitions: number[]; steps: Step[]; watermarks: number[] }[] = [
  {
    name: 'trails the newest event time by the maximum out-of-orderness',
    partitions: [0],
    steps: [
      [10, 0, 1_000],
      [20, 0, 900],
      [30, 0, 1_500],
    ],
    watermarks: [900, 900, 1_400],
  },
  {
    name: 'is the least of the partitions, so a slow partition holds it back',
    partitions: [0, 1],
    steps: [
      [10, 0, 1_000],
      [20, 1, 500],
      [30, 0, 2_000],
      [40, 1, 1_200],
    ],
    watermarks: [NO_WATERMARK, 400, 400, 1_100],
  },
  {
    name: 'is held back by a partition without events until that partition is idle',
    partitions: [0, 1],
    steps: [[10, 0, 1_000], [500, 0, 1_200], [999], [1_000]],
    watermarks: [NO_WATERMARK, NO_WATERMARK, NO_WATERMARK, 1_100],
  },
  {
    name: 'leaves out an idle partition, and takes it back when it has events again',
    partitions: [0, 1],
    steps: [
      [10, 0, 1_000],
      [20, 1, 1_000],
      [1_500, 0, 3_000],
      [1_600, 1, 2_000],
      [1_700, 1, 4_000],
    ],
    watermarks: [NO_WATERMARK, 900, 2_900, 2_900, 2_900],
  },
  {
    name: 'moves with the clock once every partition is idle, from the newest event seen',
    partitions: [0, 1],
    steps: [[10, 0, 5_000], [20, 1, 3_000], [1_019], [1_020], [2_020], [2_520, 1, 3_100]],
    watermarks: [NO_WATERMARK, 2_900, 2_900, 5_900, 6_900, 6_900],
  },
  {
    name: 'never goes back, whatever arrives',
    partitions: [0],
    steps: [
      [10, 0, 5_000],
      [20, 0, 100],
      [30, 0, 4_000],
    ],
    watermarks: [4_900, 4_900, 4_900],
  },
];

describe('the watermark', () => {
  for (const c of CASES) it(c.name, () => assert.deepEqual(run(c.partitions, c.steps), c.watermarks));

  it('survives a restart through its saved state, taking no partition it does not read', () => {
    const tracker = new WatermarkTracker({ maxOutOfOrdernessMs: 100, idleTimeoutMs: 1_000 });
    tracker.assign(0, 0);
    tracker.assign(1, 0);
    tracker.observe(0, 2_000, 10);
    tracker.observe(1, 3_000, 10);
    tracker.advance(10);
    const saved = JSON.parse(JSON.stringify(tracker.save()));
    assert.deepEqual(saved, { watermark: 1_900, newest: { 0: 2_000, 1: 3_000 } });
    const back = new WatermarkTracker({ maxOutOfOrdernessMs: 100, idleTimeoutMs: 1_000 });
    back.assign(0, 50);
    back.assign(1, 50);
    back.restore(saved, 50);
    assert.equal(back.watermark, 1_900);
    back.observe(0, 2_500, 60);
    assert.equal(back.advance(60), 2_400);
  });

  it('saves the absence of a watermark as null, since JSON has no -Infinity', () => {
    const tracker = new WatermarkTracker({ maxOutOfOrdernessMs: 100, idleTimeoutMs: 1_000 });
    assert.equal(tracker.save().watermark, null);
    tracker.restore({ watermark: null, newest: {} }, 0);
    assert.equal(tracker.watermark, NO_WATERMARK);
  });
});
