import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as settle } from 'node:timers/promises';
import { FakeClock } from '../clock/clock.ts';
import { ItemExponentialFailureRateLimiter } from './rate-limiter.ts';
import { WorkQueue } from './work-queue.ts';

/** A promise's outcome so far, without waiting for it; so a broken queue fails a test instead of hanging it. */
async function peek<T>(promise: Promise<T>): Promise<{ settled: boolean; value?: T; error?: unknown }> {
  let state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => (state = { settled: true, value }),
    (error: unknown) => (state = { settled: true, error }),
  );
  await settle();
  return state;
}

/** Takes every key that is ready now, marking each done. */
async function drainReady(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.len() > 0) {
    const key = (await queue.get())!;
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

describe('WorkQueue', () => {
  it('hands keys out in the order they were added', async () => {
    const queue = new WorkQueue({ name: 'test', clock: new FakeClock() });
    for (const key of ['a', 'b', 'c']) queue.add(key);
    assert.deepEqual(await drainReady(queue), ['a', 'b', 'c']);
  });

  it('processes a key added many times while waiting only once', async () => {
    const queue = new WorkQueue({ name: 'test', clock: new FakeClock() });
    queue.add('a');
    queue.add('b');
    queue.add('a');
    queue.add('a');
    assert.equal(queue.len(), 2);
    assert.deepEqual(await drainReady(queue), ['a', 'b']);
  });

  it('makes a waiting worker wait until a key is added', async () => {
    const queue = new WorkQueue({ name: 'test', clock: new FakeClock() });
    const next = queue.get();
    assert.equal((await peek(next)).settled, false);
    queue.add('a');
    assert.equal(await next, 'a');
  });

  it('serves waiting workers in the order they asked', async () => {
    const queue = new WorkQueue({ name: 'test', clock: new FakeClock() });
    const first = queue.get();
    const second = queue.get();
    queue.add('a');
    queue.add('b');
    assert.deepEqual(await Promise.all([first, second]), ['a', 'b']);
  });

  it('hands a key re-added during processing out again only after done', async () => {
    const queue = new WorkQueue({ name: 'test', clock: new FakeClock() });
    queue.add('a');
    assert.equal(await queue.get(), 'a');
    queue.add('a');
    queue.add('a');
    assert.equal(queue.len(), 0);
    const secondWorker = queue.get();
    assert.equal((await peek(secondWorker)).settled, false);
    queue.done('a');
    assert.equal(await secondWorker, 'a');
    queue.done('a');
    assert.equal(queue.len(), 0);
  });

  it('never hands one key to two workers at once under concurrent adds', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ name: 'test', clock });
    const held = new Set<string>();
    const processed: string[] = [];
    const worker = async () => {
      for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
        assert.ok(!held.has(key), `${key} was handed to a second worker`);
        held.add(key);
        await clock.sleep(7);
        processed.push(key);
        held.delete(key);
        queue.done(key);
      }
    };
    const workers = [worker(), worker(), worker()];
    for (let t = 0; t < 100; t += 3) {
      queue.add('a');
      queue.add('b');
      await clock.advance(3);
    }
    queue.shutDown();
    await clock.advance(100);
    const stopped = await peek(Promise.all(workers));
    if (stopped.error) throw stopped.error;
    assert.equal(stopped.settled, true, 'workers stop once the backlog is done');
    // Adds every 3ms against 7ms of work: each key runs back to back, never in parallel.
    assert.ok(processed.filter((k) => k === 'a').length >= 13);
    assert.equal(held.size, 0);
  });

  it('adds a key after its delay on the clock', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ name: 'test', clock });
    queue.addAfter('a', 100);
    await clock.advance(99);
    assert.equal(queue.len(), 0);
    await clock.advance(1);
    assert.equal(queue.len(), 1);
  });

  it('adds a key at once when its delay is not positive', () => {
    const queue = new WorkQueue({ name: 'test', clock: new FakeClock() });
    queue.addAfter('a', 0);
    queue.addAfter('b', -5);
    assert.equal(queue.len(), 2);
  });

  it('keeps the earlier of two delayed adds of a key and adds it only once', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ name: 'test', clock });
    queue.addAfter('a', 100);
    queue.addAfter('a', 50);
    queue.addAfter('a', 200);
    assert.equal(clock.pendingTimers, 1);
    await clock.advance(50);
    assert.deepEqual(await drainReady(queue), ['a']);
    await clock.advance(500);
    assert.equal(queue.len(), 0);
  });

  it('backs a failing key off exponentially until it is forgotten', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ name: 'test', clock });
    const readyAfter = async (key: string) => {
      const start = clock.now();
      queue.addRateLimited(key);
      for (let waited = 0; queue.len() === 0 && waited < 10_000; waited++) await clock.advance(1);
      await drainReady(queue);
      return clock.now() - start;
    };
    assert.deepEqual([await readyAfter('a'), await readyAfter('a'), await readyAfter('a')], [5, 10, 20]);
    assert.equal(queue.numRequeues('a'), 3);
    assert.equal(await readyAfter('b'), 5, 'another key has its own backoff');
    queue.forget('a');
    assert.equal(queue.numRequeues('a'), 0);
    assert.equal(await readyAfter('a'), 5);
  });

  it('limits the overall retry rate to 10 a second after a burst of 100', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ name: 'test', clock });
    for (let i = 0; i < 110; i++) queue.addRateLimited(`key-${i}`);
    await clock.advance(5);
    assert.equal(queue.len(), 100);
    await clock.advance(95);
    assert.equal(queue.len(), 101);
    await clock.advance(899);
    assert.equal(queue.len(), 109);
    await clock.advance(1);
    assert.equal(queue.len(), 110);
  });

  it('takes its backoff from the rate limiter it is given', async () => {
    const clock = new FakeClock();
    const rateLimiter = new ItemExponentialFailureRateLimiter({ baseDelayMs: 1_000, maxDelayMs: 60_000 });
    const queue = new WorkQueue({ name: 'test', clock, rateLimiter });
    queue.addRateLimited('a');
    await clock.advance(999);
    assert.equal(queue.len(), 0);
    await clock.advance(1);
    assert.equal(queue.len(), 1);
  });

  it('ignores done for a key no worker holds', async () => {
    const queue = new WorkQueue({ name: 'test', clock: new FakeClock() });
    queue.add('a');
    queue.done('a');
    assert.equal(queue.len(), 1);
    assert.deepEqual(await drainReady(queue), ['a']);
  });

  describe('shutting down', () => {
    it('releases idle workers with undefined', async () => {
      const queue = new WorkQueue({ name: 'test', clock: new FakeClock() });
      const waiting = queue.get();
      queue.shutDown();
      assert.equal(queue.shuttingDown, true);
      assert.equal(await waiting, undefined);
      assert.equal(await queue.get(), undefined);
    });

    it('still hands out the keys that were waiting, then undefined', async () => {
      const queue = new WorkQueue({ name: 'test', clock: new FakeClock() });
      queue.add('a');
      queue.add('b');
      queue.shutDown();
      assert.equal(await queue.get(), 'a');
      assert.equal(await queue.get(), 'b');
      assert.equal(await queue.get(), undefined);
    });

    it('ignores new adds and drops delayed ones', async () => {
      const clock = new FakeClock();
      const queue = new WorkQueue({ name: 'test', clock });
      queue.addAfter('late', 10);
      queue.shutDown();
      queue.add('a');
      queue.addRateLimited('b');
      assert.equal(clock.pendingTimers, 0);
      await clock.advance(1_000);
      assert.equal(queue.len(), 0);
    });

    it('with drain, waits until every key handed out is done', async () => {
      const queue = new WorkQueue({ name: 'test', clock: new FakeClock() });
      queue.add('a');
      queue.add('b');
      const a = (await queue.get())!;
      const b = (await queue.get())!;
      const drained = queue.shutDownWithDrain();
      queue.done(a);
      assert.equal((await peek(drained)).settled, false);
      queue.done(b);
      assert.equal((await peek(drained)).settled, true);
    });

    it('with drain, resolves at once when nothing is in progress', async () => {
      const queue = new WorkQueue({ name: 'test', clock: new FakeClock() });
      await queue.shutDownWithDrain();
      assert.equal(await queue.get(), undefined);
    });
  });
});
