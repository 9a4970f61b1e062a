import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../clock/clock.ts';
import {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
  type RateLimiter,
} from './rate-limiter.ts';

const delays = (limiter: RateLimiter, item: string, times: number) =>
  Array.from({ length: times }, () => limiter.when(item));

describe('ItemExponentialFailureRateLimiter', () => {
  it('doubles the delay with each failure, starting at the base delay', () => {
    const limiter = new ItemExponentialFailureRateLimiter({ baseDelayMs: 5, maxDelayMs: 1_000 });
    assert.deepEqual(delays(limiter, 'a', 5), [5, 10, 20, 40, 80]);
    assert.equal(limiter.numRequeues('a'), 5);
  });

  it('caps the delay at the maximum however many failures there were', () => {
    const limiter = new ItemExponentialFailureRateLimiter({ baseDelayMs: 5, maxDelayMs: 1_000 });
    assert.deepEqual(delays(limiter, 'a', 10).slice(-3), [640, 1_000, 1_000]);
    // Thousands of failures overflow 2^n to Infinity, which must still come out as the cap.
    assert.equal(delays(limiter, 'a', 2_000).at(-1), 1_000);
  });

  it('uses client-go defaults of 5ms up to 1000s', () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    assert.equal(limiter.when('a'), 5);
    assert.equal(delays(limiter, 'a', 40).at(-1), 1_000_000);
  });

  it('backs each key off on its own', () => {
    const limiter = new ItemExponentialFailureRateLimiter({ baseDelayMs: 1, maxDelayMs: 1_000 });
    delays(limiter, 'a', 3);
    assert.equal(limiter.when('b'), 1);
    assert.equal(limiter.numRequeues('a'), 3);
    assert.equal(limiter.numRequeues('b'), 1);
  });

  it('starts over at the base delay once a key is forgotten', () => {
    const limiter = new ItemExponentialFailureRateLimiter({ baseDelayMs: 5, maxDelayMs: 1_000 });
    delays(limiter, 'a', 4);
    limiter.forget('a');
    assert.equal(limiter.numRequeues('a'), 0);
    assert.equal(limiter.when('a'), 5);
  });
});

describe('BucketRateLimiter', () => {
  it('lets a full burst through at once, then spaces calls at 1/qps, reserving ahead', () => {
    const limiter = new BucketRateLimiter({ qps: 10, burst: 3, clock: new FakeClock() });
    assert.deepEqual(delays(limiter, 'a', 6), [0, 0, 0, 100, 200, 300]);
  });

  it('shares one bucket among all keys', () => {
    const limiter = new BucketRateLimiter({ qps: 10, burst: 2, clock: new FakeClock() });
    assert.deepEqual([limiter.when('a'), limiter.when('b'), limiter.when('c')], [0, 0, 100]);
    assert.equal(limiter.numRequeues('c'), 0);
  });

  it('refills at qps as time passes, paying back reserved tokens first', async () => {
    const clock = new FakeClock();
    const limiter = new BucketRateLimiter({ qps: 10, burst: 3, clock });
    delays(limiter, 'a', 5); // three free, two reserved at 100ms and 200ms
    await clock.advance(300);
    assert.deepEqual(delays(limiter, 'a', 2), [0, 100]);
  });

  it('never holds more than the burst, however long it was idle', async () => {
    const clock = new FakeClock();
    const limiter = new BucketRateLimiter({ qps: 10, burst: 3, clock });
    await clock.advance(3_600_000);
    assert.deepEqual(delays(limiter, 'a', 4), [0, 0, 0, 100]);
  });

  it('rejects a rate or burst that could never let anything through', () => {
    const clock = new FakeClock();
    assert.throws(() => new BucketRateLimiter({ qps: 0, clock }), RangeError);
    assert.throws(() => new BucketRateLimiter({ burst: 0, clock }), RangeError);
  });
});

describe('MaxOfRateLimiter', () => {
  const fixed = (delay: number, requeues: number) => {
    const forgotten: string[] = [];
    const limiter: RateLimiter = {
      when: () => delay,
      forget: (item) => void forgotten.push(item),
      numRequeues: () => requeues,
    };
    return { limiter, forgotten };
  };

  it('returns the longest delay and the highest requeue count of its limiters', () => {
    const limiter = new MaxOfRateLimiter(fixed(5, 7).limiter, fixed(50, 2).limiter, fixed(20, 1).limiter);
    assert.equal(limiter.when('a'), 50);
    assert.equal(limiter.numRequeues('a'), 7);
  });

  it('tells every limiter of each failure and each forget', () => {
    const exponential = new ItemExponentialFailureRateLimiter({ baseDelayMs: 100, maxDelayMs: 10_000 });
    const other = fixed(1_000, 0);
    const limiter = new MaxOfRateLimiter(other.limiter, exponential);
    delays(limiter, 'a', 3);
    assert.equal(exponential.numRequeues('a'), 3);
    limiter.forget('a');
    assert.equal(exponential.numRequeues('a'), 0);
    assert.deepEqual(other.forgotten, ['a']);
  });
});

describe('defaultControllerRateLimiter', () => {
  it('backs a failing key off exponentially from 5ms', () => {
    const limiter = defaultControllerRateLimiter(new FakeClock());
    assert.deepEqual(delays(limiter, 'a', 4), [5, 10, 20, 40]);
  });

  it('holds back retries beyond a burst of 100 to 10 a second', () => {
    const limiter = defaultControllerRateLimiter(new FakeClock());
    const firstDelays = Array.from({ length: 102 }, (_, i) => limiter.when(`key-${i}`));
    assert.ok(firstDelays.slice(0, 100).every((delay) => delay === 5));
    assert.deepEqual(firstDelays.slice(100), [100, 200]);
  });
});
