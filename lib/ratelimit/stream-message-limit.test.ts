import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../clock/clock.ts';
import { StreamMessageLimit, strictestStreamLimits } from './stream-message-limit.ts';

describe("a stream's message limits", () => {
  it('lets a second of messages through at once, then refuses until the bucket refills', async () => {
    const clock = new FakeClock();
    const limit = new StreamMessageLimit({ messagesPerSecond: 4 }, clock);
    for (let i = 0; i < 4; i++) assert.deepEqual(limit.take(10), { ok: true });
    assert.deepEqual(limit.take(10), { ok: false, reason: 'rate', retryAfterMs: 250 });
    await clock.advance(250);
    assert.deepEqual(limit.take(10), { ok: true });
    assert.equal(limit.take(10).ok, false);
  });

  it('refuses a message over the size limit without charging the rate', () => {
    const limit = new StreamMessageLimit({ messagesPerSecond: 1, maxMessageBytes: 100 }, new FakeClock());
    assert.deepEqual(limit.take(101), { ok: false, reason: 'size', max: 100 });
    assert.deepEqual(limit.take(100), { ok: true });
  });

  it('lets everything through without limits', () => {
    const limit = new StreamMessageLimit({}, new FakeClock());
    for (let i = 0; i < 1000; i++) assert.equal(limit.take(1 << 20).ok, true);
  });

  it('keeps what was used when a policy lowers the rate', async () => {
    const clock = new FakeClock();
    const limit = new StreamMessageLimit({ messagesPerSecond: 10 }, clock);
    for (let i = 0; i < 9; i++) limit.take(1);
    limit.update({ messagesPerSecond: 2 });
    assert.equal(limit.take(1).ok, true);
    assert.equal(limit.take(1).ok, false);
  });

  it('combines several policies by taking the smallest of each limit', () => {
    assert.deepEqual(
      strictestStreamLimits([{ messagesPerSecond: 10 }, { messagesPerSecond: 4, maxMessageBytes: 512 }, undefined]),
      {
        messagesPerSecond: 4,
        maxMessageBytes: 512,
      },
    );
    assert.deepEqual(strictestStreamLimits([]), { messagesPerSecond: undefined, maxMessageBytes: undefined });
  });
});
