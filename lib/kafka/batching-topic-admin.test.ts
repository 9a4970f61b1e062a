import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchingTopicAdmin } from './batching-topic-admin.ts';
import { Errors, hasCode } from '../errors/errors.ts';
import { kafkaRefused, kafkaUnavailable, type TopicAdmin, type TopicSpec, type TopicState } from './topic-admin.ts';

/** An in-memory TopicAdmin that records the requests it gets; `gate` holds them until released. */
class RecordingAdmin implements TopicAdmin {
  topics = new Map<string, TopicState>();
  requests: { kind: string; names: string[] }[] = [];
  refuse = new Set<string>();
  down = false;
  gate: Promise<void> = Promise.resolve();

  async describe(names: string[]): Promise<Map<string, TopicState>> {
    this.requests.push({ kind: 'describe', names });
    await this.gate;
    if (this.down) throw kafkaUnavailable('no broker');
    return new Map(names.filter((n) => this.topics.has(n)).map((n) => [n, this.topics.get(n)!]));
  }

  async create(specs: TopicSpec[]): Promise<void> {
    this.requests.push({ kind: 'create', names: specs.map((s) => s.name) });
    await this.gate;
    if (this.down) throw kafkaUnavailable('no broker');
    const refused = specs.find((s) => this.refuse.has(s.name));
    if (refused)
      throw kafkaRefused(`creating topic ${refused.name}: POLICY_VIOLATION`, {
        kafkaCode: 'POLICY_VIOLATION',
        topic: refused.name,
      });
    for (const s of specs)
      this.topics.set(s.name, {
        name: s.name,
        partitions: s.partitions,
        replicationFactor: s.replicationFactor,
        config: s.config,
      });
  }

  async increasePartitions(): Promise<void> {}
  async alterConfig(): Promise<void> {}
  async deleteTopics(): Promise<void> {}
  async ping(): Promise<number> {
    return 1;
  }
  async close(): Promise<void> {}
}

const spec = (name: string): TopicSpec => ({ name, partitions: 3, replicationFactor: 1, config: {} });

describe('BatchingTopicAdmin', () => {
  it('sends the creates of callers arriving together as one request', async () => {
    const inner = new RecordingAdmin();
    const admin = new BatchingTopicAdmin(inner);
    await Promise.all([
      admin.create([spec('a.in'), spec('a.out')]),
      admin.create([spec('b.in')]),
      admin.create([spec('c.in')]),
    ]);
    assert.deepEqual(inner.requests, [{ kind: 'create', names: ['a.in', 'a.out', 'b.in', 'c.in'] }]);
    assert.equal(inner.topics.size, 4);
  });

  it('gives each describing caller only the topics it asked for', async () => {
    const inner = new RecordingAdmin();
    const admin = new BatchingTopicAdmin(inner);
    await admin.create([spec('a.in'), spec('b.in')]);
    const [a, b, missing] = await Promise.all([
      admin.describe(['a.in']),
      admin.describe(['b.in', 'b.out']),
      admin.describe(['z.in']),
    ]);
    assert.deepEqual([...a.keys()], ['a.in']);
    assert.deepEqual([...b.keys()], ['b.in']);
    assert.equal(missing.size, 0);
    assert.deepEqual(inner.requests.at(-1), { kind: 'describe', names: ['a.in', 'b.in', 'b.out', 'z.in'] });
  });

  it('puts callers arriving while a request is in flight into the next request', async () => {
    const inner = new RecordingAdmin();
    let release!: () => void;
    inner.gate = new Promise((resolve) => (release = resolve));
    const admin = new BatchingTopicAdmin(inner);
    const first = admin.create([spec('a.in')]);
    await new Promise((resolve) => setImmediate(resolve));
    const later = [admin.create([spec('b.in')]), admin.create([spec('c.in')])];
    assert.equal(inner.requests.length, 1, 'the second request waits for the first');
    release();
    await Promise.all([first, ...later]);
    assert.deepEqual(
      inner.requests.map((r) => r.names),
      [['a.in'], ['b.in', 'c.in']],
    );
  });

  it('sends no more than maxBatch callers in one request', async () => {
    const inner = new RecordingAdmin();
    const admin = new BatchingTopicAdmin(inner, { maxBatch: 2 });
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((p) => admin.create([spec(`${p}.in`)])));
    assert.deepEqual(
      inner.requests.map((r) => r.names.length),
      [2, 2, 1],
    );
  });

  it('fails only the caller whose topic Kafka refused', async () => {
    const inner = new RecordingAdmin();
    inner.refuse.add('bad.in');
    const admin = new BatchingTopicAdmin(inner);
    const [good, bad, other] = await Promise.allSettled([
      admin.create([spec('good.in')]),
      admin.create([spec('bad.in')]),
      admin.create([spec('other.in')]),
    ]);
    assert.equal(good.status, 'fulfilled');
    assert.equal(other.status, 'fulfilled');
    assert.equal(bad.status, 'rejected');
    assert.match(String((bad as PromiseRejectedResult).reason), /bad\.in: POLICY_VIOLATION/);
    assert.deepEqual([...inner.topics.keys()].sort(), ['good.in', 'other.in']);
  });

  it('fails every caller of the batch when Kafka cannot be reached, and works again once it can', async () => {
    const inner = new RecordingAdmin();
    inner.down = true;
    const admin = new BatchingTopicAdmin(inner);
    const results = await Promise.allSettled([admin.describe(['a.in']), admin.describe(['b.in'])]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.ok(results.every((r) => hasCode((r as PromiseRejectedResult).reason, Errors.KafkaUnavailable)));
    inner.down = false;
    assert.equal((await admin.describe(['a.in'])).size, 0);
  });
});
