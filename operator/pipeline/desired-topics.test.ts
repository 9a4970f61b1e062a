import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineSpec } from '../../crds/pipeline.ts';
import { durationMs } from '../../lib/platform/duration.ts';
import { desiredTopics, partitionsUsed } from './desired-topics.ts';
import { topicName } from '../../lib/platform/pipeline-names.ts';

describe('pipeline topics', () => {
  it('are named weir.<namespace>.<pipeline>.<role>', () => {
    assert.equal(topicName('tenant-acme', 'clicks', 'DeadLetter'), 'weir.tenant-acme.clicks.dlq');
  });

  it('read Go-style durations in milliseconds', () => {
    assert.equal(durationMs('168h'), 604_800_000);
    assert.equal(durationMs('1h30m'), 5_400_000);
    assert.equal(durationMs('1.5s'), 1500);
  });

  it('are input, retry, dead-letter, changelog and output, with the spec partitions and retention, dead letters kept four times longer', () => {
    const topics = desiredTopics(
      'tenant-acme',
      'clicks',
      PipelineSpec.parse({ source: { partitions: 12, replicationFactor: 3, retention: '24h' } }),
    );
    assert.deepEqual([...topics.keys()], ['Input', 'Retry', 'DeadLetter', 'Changelog', 'Output']);
    assert.deepEqual(topics.get('Input'), {
      name: 'weir.tenant-acme.clicks.input',
      partitions: 12,
      replicationFactor: 3,
      config: { 'cleanup.policy': 'delete', 'retention.ms': '86400000' },
    });
    assert.equal(topics.get('DeadLetter')?.config['retention.ms'], '345600000');
  });

  it("keep the changelog compacted, with as many partitions as the input, since each holds one input partition's state", () => {
    const topics = desiredTopics('tenant-acme', 'clicks', PipelineSpec.parse({ source: { partitions: 12 } }));
    assert.deepEqual(topics.get('Changelog'), {
      name: 'weir.tenant-acme.clicks.changelog',
      partitions: 12,
      replicationFactor: 1,
      config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000' },
    });
  });

  it('leave out the output topic when the topic sink is off, and count partitions accordingly', () => {
    const spec = PipelineSpec.parse({ source: { partitions: 6 }, sinks: { topic: { enabled: false } } });
    assert.equal(desiredTopics('ns', 'p', spec).has('Output'), false);
    assert.equal(partitionsUsed(spec), 24);
  });
});
