import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sendChunks } from './transaction-kafkajs.ts';

describe('sends of a transaction', () => {
  it('stay under the size Kafka accepts for one record batch, in order, none lost', () => {
    const records = Array.from({ length: 5_000 }, (_, i) => ({
      topic: 't',
      partition: 0,
      key: `k${i}`,
      value: 'v'.repeat(200),
    }));
    const chunks = sendChunks(records);
    assert.ok(chunks.length > 1);
    for (const c of chunks)
      assert.ok(c.reduce((n, r) => n + (r.value?.length ?? 0) + (r.key?.length ?? 0), 0) <= 512 * 1024);
    assert.deepEqual(chunks.flat(), records);
  });

  it('keep a record larger than the limit in a send of its own rather than drop it', () => {
    const big = { topic: 't', key: 'k', value: 'x'.repeat(600_000) };
    const chunks = sendChunks([{ topic: 't', key: 'a', value: 'a' }, big, { topic: 't', key: 'b', value: 'b' }]);
    assert.deepEqual(
      chunks.map((c) => c.length),
      [1, 1, 1],
    );
  });
});
