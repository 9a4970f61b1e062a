import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HyperLogLog } from './hyper-log-log.ts';

function sketchOf(values: Iterable<string>): HyperLogLog {
  const s = new HyperLogLog();
  for (const v of values) s.add(v);
  return s;
}

function range(from: number, to: number, prefix = 'user-'): string[] {
  return Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);
}

describe('the Distinct sketch', () => {
  it('counts exactly while it holds at most 256 distinct values, repeats included', () => {
    for (const n of [0, 1, 17, 256]) {
      const values = range(0, n);
      assert.equal(sketchOf([...values, ...values]).count(), n, `n=${n}`);
    }
  });

  it('stays within 5 % of the true count from 257 to 200,000 distinct values (the stated bound is ±3.3 % at 95 %)', () => {
    const errors: number[] = [];
    for (const n of [257, 1_000, 5_000, 10_000, 12_000, 50_000, 200_000]) {
      for (const prefix of ['a-', 'b-', 'c-']) {
        const estimate = sketchOf(range(0, n, prefix)).count();
        const error = Math.abs(estimate - n) / n;
        errors.push(error);
        assert.ok(error < 0.05, `n=${n} prefix=${prefix}: estimated ${estimate}, error ${(error * 100).toFixed(2)} %`);
      }
    }
    const rms = Math.sqrt(errors.reduce((s, e) => s + e * e, 0) / errors.length);
    assert.ok(rms < 0.025, `root mean square error ${(rms * 100).toFixed(2)} %`);
  });

  it('merges to the sketch of the union, sparse or dense', () => {
    for (const [a, b] of [
      [100, 100],
      [100, 5_000],
      [5_000, 5_000],
    ] as const) {
      const left = sketchOf(range(0, a));
      const right = sketchOf(range(a / 2, a / 2 + b));
      left.merge(right);
      assert.equal(left.count(), sketchOf(range(0, a / 2 + b)).count(), `${a} ∪ ${b}`);
    }
  });

  it('round-trips through its JSON form, sparse and dense', () => {
    for (const n of [10, 3_000]) {
      const s = sketchOf(range(0, n));
      const back = HyperLogLog.fromJSON(JSON.parse(JSON.stringify(s.toJSON())));
      assert.equal(back.count(), s.count());
      back.add('one-more');
      s.add('one-more');
      assert.equal(back.count(), s.count());
    }
  });

  it('refuses dense JSON of the wrong size', () => {
    assert.throws(() => HyperLogLog.fromJSON({ d: Buffer.alloc(10).toString('base64') }), /4096 registers, not 10/);
  });
});
