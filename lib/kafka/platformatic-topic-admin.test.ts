import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { topicIdString } from './platformatic-topic-admin.ts';

describe('topicIdString', () => {
  it('prints a topic id as kafka-topics.sh does', () => {
    // The expected value is what Kafka's own Uuid.toString() gives for these 16 bytes.
    assert.equal(topicIdString('5e0b1d2c-8a7f-4f5e-9c3d-2b1a0f9e8d7c'), 'XgsdLIp_T16cPSsaD56NfA');
  });

  it('reports no id for the all-zero id that stands for none', () => {
    assert.equal(topicIdString('00000000-0000-0000-0000-000000000000'), undefined);
  });
});
