/**
 * The updates hub against a real redis-server: subscribers of one channel share one Redis
 * subscription, which ends with the last of them, and a subscriber that does not read is
 * cut off instead of buffering without bound. Run under
 * `node hack/local-env/cli.ts run --with redis -- node --test <this file>`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Errors, hasCode } from '../../lib/errors/errors.ts';
import { silentLogger } from '../../lib/observability/logger.ts';
import { UpdatesHub } from './updates-hub.ts';

const url = process.env.WEIR_REDIS_URL ?? '';
// Without its real server this test fails rather than skips: a skip would read as a pass.
assert.ok(url !== '', 'WEIR_REDIS_URL is not set: run under hack/local-env/cli.ts run');

let subscriber: Redis;
let admin: Redis;
let hub: UpdatesHub;
const counts: number[] = [];

before(() => {
  subscriber = new Redis(url);
  admin = new Redis(url);
  hub = new UpdatesHub({ redis: subscriber, log: silentLogger(), onChannels: (n) => counts.push(n) });
});
after(() => {
  hub.close();
  subscriber.disconnect();
  admin.disconnect();
});

const channel = () => `tenant:t${randomBytes(3).toString('hex')}:updates:p:a`;
const numsub = async (c: string) => ((await admin.pubsub('NUMSUB', c)) as [string, number])[1];
const update = (revision: number) =>
  JSON.stringify({
    type: 'retraction',
    aggregation: 'a',
    groupKey: '[]',
    windowStart: 0,
    windowEnd: 1,
    revision,
    updatedAt: 0,
  });

describe('the updates hub', () => {
  it('delivers every update to every subscriber of a channel over one Redis subscription', async () => {
    const c = channel();
    const one = hub.subscribe(c, 10);
    const two = hub.subscribe(c, 10);
    await Promise.all([one.ready, two.ready]);
    assert.equal(await numsub(c), 1);
    await admin.publish(c, update(1));
    await admin.publish(c, update(2));
    for (const s of [one, two]) {
      assert.equal((await s.updates.next()).value?.revision, 1);
      assert.equal((await s.updates.next()).value?.revision, 2);
    }
    await one.updates.return!();
    assert.equal(await numsub(c), 1, 'the subscription stays while a subscriber is left');
    const waiting = two.updates.next();
    await two.updates.return!();
    assert.deepEqual(await waiting, { value: undefined, done: true }, 'a subscriber waiting for an update can leave');
    for (let i = 0; i < 50 && (await numsub(c)) > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await numsub(c), 0);
    assert.equal(hub.channels, 0);
  });

  it('cuts off a subscriber that falls further behind than its buffer, and releases the channel', async () => {
    const c = channel();
    const slow = hub.subscribe(c, 2);
    await slow.ready;
    for (let r = 1; r <= 4; r++) await admin.publish(c, update(r));
    for (let i = 0; i < 50 && hub.channels > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(hub.channels, 0);
    // What it had buffered is still handed out, then the error.
    assert.equal((await slow.updates.next()).value?.revision, 1);
    assert.equal((await slow.updates.next()).value?.revision, 2);
    await assert.rejects(slow.updates.next(), (err) => hasCode(err, Errors.RateLimited));
  });
});
