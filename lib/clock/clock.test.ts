import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as settle } from 'node:timers/promises';
import { FakeClock, systemClock } from './clock.ts';

describe('FakeClock', () => {
  it('reads the time it was given until it is advanced', async () => {
    const clock = new FakeClock({ now: 1_000 });
    assert.equal(clock.now(), 1_000);
    await clock.advance(250);
    assert.equal(clock.now(), 1_250);
  });

  it('fires due timers in deadline order, reading each deadline as the time', async () => {
    const clock = new FakeClock();
    const fired: [string, number][] = [];
    clock.setTimeout(() => fired.push(['late', clock.now()]), 30);
    clock.setTimeout(() => fired.push(['early', clock.now()]), 10);
    clock.setTimeout(() => fired.push(['middle', clock.now()]), 20);
    await clock.advance(25);
    assert.deepEqual(fired, [
      ['early', 10],
      ['middle', 20],
    ]);
    assert.equal(clock.now(), 25);
    assert.equal(clock.pendingTimers, 1);
  });

  it('fires timers due at the same moment in the order they were set', async () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    for (const n of [1, 2, 3]) clock.setTimeout(() => fired.push(n), 5);
    await clock.advance(5);
    assert.deepEqual(fired, [1, 2, 3]);
  });

  it('does not fire a cancelled timer', async () => {
    const clock = new FakeClock();
    let fired = false;
    const handle = clock.setTimeout(() => (fired = true), 10);
    clock.clearTimeout(handle);
    await clock.advance(100);
    assert.equal(fired, false);
    assert.equal(clock.pendingTimers, 0);
  });

  it('lets a loop of awaited sleeps run every step that falls inside one advance', async () => {
    const clock = new FakeClock();
    const ticks: number[] = [];
    const loop = (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(10);
        ticks.push(clock.now());
      }
    })();
    await clock.advance(25);
    assert.deepEqual(ticks, [10, 20]);
    await clock.advance(5);
    assert.deepEqual(ticks, [10, 20, 30]);
    assert.equal(clock.pendingTimers, 0);
    await loop;
  });

  it('rejects a sleep with the abort reason and drops its timer', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const sleeping = clock.sleep(1_000, controller.signal);
    assert.equal(clock.pendingTimers, 1);
    controller.abort(new Error('stopping'));
    await assert.rejects(sleeping, /stopping/);
    assert.equal(clock.pendingTimers, 0);
  });

  it('rejects a sleep at once when the signal has already aborted', async () => {
    const clock = new FakeClock();
    await assert.rejects(clock.sleep(10, AbortSignal.abort(new Error('too late'))), /too late/);
    assert.equal(clock.pendingTimers, 0);
  });

  it('fires due timers when set forward, and none when set back', async () => {
    const clock = new FakeClock({ now: 100 });
    let fired = 0;
    clock.setTimeout(() => fired++, 50);
    await clock.set(50);
    assert.equal(clock.now(), 50);
    assert.equal(fired, 0);
    await clock.set(150);
    assert.equal(fired, 1);
  });

  it('rejects the advance when a timer throws', async () => {
    const clock = new FakeClock();
    clock.setTimeout(() => {
      throw new Error('boom');
    }, 1);
    await assert.rejects(clock.advance(1), /boom/);
  });

  it('refuses to advance backwards', async () => {
    await assert.rejects(new FakeClock().advance(-1), RangeError);
  });
});

describe('systemClock', () => {
  it('reads the wall clock', () => {
    const before = Date.now();
    const now = systemClock.now();
    assert.ok(now >= before && now <= Date.now());
  });

  it('fires a timer unless it is cleared', async () => {
    const fired: string[] = [];
    systemClock.setTimeout(() => fired.push('kept'), 1);
    const cleared = systemClock.setTimeout(() => fired.push('cleared'), 1);
    systemClock.clearTimeout(cleared);
    await systemClock.sleep(5);
    await settle();
    assert.deepEqual(fired, ['kept']);
  });

  it('rejects a sleep with the abort reason', async () => {
    const controller = new AbortController();
    const sleeping = systemClock.sleep(60_000, controller.signal);
    controller.abort(new Error('stopping'));
    await assert.rejects(sleeping, /stopping/);
  });

  it('has a monotonic clock that never goes back', async () => {
    const first = systemClock.monotonic();
    await systemClock.sleep(2);
    assert.ok(systemClock.monotonic() >= first + 1);
  });
});

describe('FakeClock.monotonic', () => {
  it('moves with advance and forward sets, and stays when the wall clock is set back', async () => {
    const clock = new FakeClock({ now: 1_000_000 });
    assert.equal(clock.monotonic(), 0);
    await clock.advance(250);
    await clock.set(1_000_500);
    assert.equal(clock.monotonic(), 500);
    await clock.set(0);
    assert.equal(clock.now(), 0);
    assert.equal(clock.monotonic(), 500);
  });
});
