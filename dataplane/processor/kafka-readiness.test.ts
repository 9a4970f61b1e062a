import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kafkaUnavailable, type TopicState } from '../../lib/kafka/topic-admin.ts';
import { FakeClock } from '../../lib/clock/clock.ts';
import { KafkaReadiness, type CheckResult } from './kafka-readiness.ts';

const TOPICS = ['weir.t.p.input', 'weir.t.p.output'];

/** A topic admin whose answers a test sets: the topics that exist, or that Kafka is down. */
function fakeAdmin() {
  const state = { existing: new Set(TOPICS), down: false, calls: 0 };
  const admin = {
    describe: async (names: string[]) => {
      state.calls++;
      if (state.down) throw kafkaUnavailable('Kafka at 127.0.0.1:9092 is unreachable: connection refused');
      return new Map<string, TopicState>(
        names
          .filter((n) => state.existing.has(n))
          .map((name) => [name, { name, partitions: 1, replicationFactor: 1, config: {} }]),
      );
    },
  };
  return { state, admin };
}

describe('Kafka readiness', () => {
  it('is not ready before the first check', () => {
    const readiness = new KafkaReadiness({ admin: fakeAdmin().admin, topics: TOPICS, clock: new FakeClock() });
    assert.equal(readiness.ready, false);
    assert.match(readiness.problem ?? '', /not been checked/);
  });

  it('is ready once Kafka answers and every topic exists', async () => {
    const readiness = new KafkaReadiness({ admin: fakeAdmin().admin, topics: TOPICS, clock: new FakeClock() });
    assert.equal(await readiness.check(), 'ok');
    assert.equal(readiness.ready, true);
    assert.equal(readiness.problem, undefined);
  });

  it('is not ready while a topic is missing, and says which', async () => {
    const { state, admin } = fakeAdmin();
    state.existing.delete('weir.t.p.output');
    const readiness = new KafkaReadiness({ admin, topics: TOPICS, clock: new FakeClock() });
    assert.equal(await readiness.check(), 'missing_topics');
    assert.equal(readiness.ready, false);
    assert.equal(readiness.problem, 'topics missing in Kafka: weir.t.p.output');
  });

  it('turns unready while Kafka is down and ready again when it is back, checking every interval', async () => {
    const clock = new FakeClock();
    const { state, admin } = fakeAdmin();
    const results: CheckResult[] = [];
    const readiness = new KafkaReadiness({
      admin,
      topics: TOPICS,
      clock,
      intervalMs: 2_000,
      onResult: (r) => results.push(r),
    });
    readiness.start();
    await clock.advance(0);
    assert.equal(readiness.ready, true);
    state.down = true;
    await clock.advance(2_000);
    assert.equal(readiness.ready, false);
    assert.match(readiness.problem ?? '', /unreachable/);
    state.down = false;
    await clock.advance(2_000);
    assert.equal(readiness.ready, true);
    assert.deepEqual(results, ['ok', 'unreachable', 'ok']);
    await readiness.stop();
  });

  it('stops checking and reports unready once stopped', async () => {
    const clock = new FakeClock();
    const { state, admin } = fakeAdmin();
    const readiness = new KafkaReadiness({ admin, topics: TOPICS, clock });
    readiness.start();
    await clock.advance(0);
    await readiness.stop();
    const calls = state.calls;
    await clock.advance(60_000);
    assert.equal(state.calls, calls);
    assert.equal(readiness.ready, false);
    assert.equal(clock.pendingTimers, 0);
  });
});
