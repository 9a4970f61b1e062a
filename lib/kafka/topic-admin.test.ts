import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planTopicChanges, type TopicPlan, type TopicSpec, type TopicState } from './topic-admin.ts';

const name = 'weir.shop.clicks.input';
const desired: TopicSpec = {
  name,
  partitions: 6,
  replicationFactor: 3,
  config: { 'retention.ms': '604800000', 'cleanup.policy': 'delete' },
};
const matching: TopicState = {
  name,
  topicId: 'AAAAAAAAAAAAAAAAAAAAAA',
  partitions: 6,
  replicationFactor: 3,
  config: { 'retention.ms': '604800000', 'cleanup.policy': 'delete' },
};

/** The topic as Kafka has it, with some fields changed. */
function topic(changes: Partial<TopicState>): TopicState {
  return { ...matching, ...changes };
}

const cases: {
  name: string;
  current: TopicState | undefined;
  want: TopicPlan | { action: 'unsupported'; reason: string };
}[] = [
  { name: 'creates a topic that does not exist', current: undefined, want: { action: 'create' } },
  {
    name: 'does nothing when partitions, replication factor and config all match',
    current: matching,
    want: { action: 'none' },
  },
  {
    name: 'does nothing about configs the spec does not mention',
    current: topic({ config: { ...matching.config, 'max.message.bytes': '2097152' } }),
    want: { action: 'none' },
  },
  {
    name: 'grows the partitions to what the spec asks for',
    current: topic({ partitions: 4 }),
    want: { action: 'update', increasePartitionsTo: 6 },
  },
  {
    name: 'reports PartitionsDecrease when the topic already has more partitions, and changes nothing else',
    current: topic({ partitions: 8, config: { 'retention.ms': '1' } }),
    want: { action: 'unsupported', reason: 'PartitionsDecrease' },
  },
  {
    name: 'reports ReplicationFactorChange when the topic has fewer replicas',
    current: topic({ replicationFactor: 1 }),
    want: { action: 'unsupported', reason: 'ReplicationFactorChange' },
  },
  {
    name: 'reports ReplicationFactorChange when the topic has more replicas',
    current: topic({ replicationFactor: 5 }),
    want: { action: 'unsupported', reason: 'ReplicationFactorChange' },
  },
  {
    name: 'reports the replication factor rather than the partitions when both differ, since only the partitions can be fixed in the spec',
    current: topic({ replicationFactor: 1, partitions: 12 }),
    want: { action: 'unsupported', reason: 'ReplicationFactorChange' },
  },
  {
    name: "sets back a config value someone changed behind Weir's back, and only that one",
    current: topic({ config: { 'retention.ms': '1000', 'cleanup.policy': 'delete' } }),
    want: { action: 'update', setConfig: { 'retention.ms': '604800000' } },
  },
  {
    name: 'sets a desired config the topic lacks, such as one someone deleted',
    current: topic({ config: { 'retention.ms': '604800000' } }),
    want: { action: 'update', setConfig: { 'cleanup.policy': 'delete' } },
  },
  {
    name: 'sets every desired config on a topic that has none of its own',
    current: topic({ config: {} }),
    want: { action: 'update', setConfig: { 'retention.ms': '604800000', 'cleanup.policy': 'delete' } },
  },
  {
    name: 'compares config values as exact strings, so a list written differently is set again',
    current: topic({ config: { 'retention.ms': '604800000', 'cleanup.policy': 'delete ' } }),
    want: { action: 'update', setConfig: { 'cleanup.policy': 'delete' } },
  },
  {
    name: 'grows the partitions and reverts config drift in one update',
    current: topic({ partitions: 3, config: { 'retention.ms': '1', 'cleanup.policy': 'delete', 'segment.ms': '100' } }),
    want: { action: 'update', increasePartitionsTo: 6, setConfig: { 'retention.ms': '604800000' } },
  },
];

describe('planTopicChanges', () => {
  for (const c of cases) {
    it(c.name, () => {
      const plan = planTopicChanges(desired, c.current);
      if (c.want.action === 'unsupported') {
        assert.equal(plan.action, 'unsupported');
        assert.equal(plan.action === 'unsupported' && plan.reason, c.want.reason);
      } else {
        assert.deepEqual(plan, c.want);
      }
    });
  }

  it('says in the message which topic it is and what Kafka has against what the spec asks', () => {
    const decrease = planTopicChanges(desired, topic({ partitions: 8 }));
    assert.ok(decrease.action === 'unsupported');
    assert.equal(
      decrease.message,
      `topic ${name} has 8 partitions, the spec asks for 6: Kafka cannot remove partitions`,
    );
    const replicas = planTopicChanges(desired, topic({ replicationFactor: 1 }));
    assert.ok(replicas.action === 'unsupported');
    assert.equal(
      replicas.message,
      `topic ${name} has replication factor 1, the spec asks for 3: Weir does not reassign replicas`,
    );
  });

  it('changes neither the spec nor the state it is given', () => {
    const current = topic({ partitions: 2, config: { 'retention.ms': '1' } });
    const before = structuredClone({ desired, current });
    planTopicChanges(desired, current);
    assert.deepEqual({ desired, current }, before);
  });

  it('refuses to compare a spec with the state of another topic', () => {
    assert.throws(() => planTopicChanges(desired, topic({ name: 'weir.shop.other.input' })), TypeError);
  });
});
