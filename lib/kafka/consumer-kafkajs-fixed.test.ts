import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import kafkajs, { filterAbortedMessages, groupMessagesPerPartition } from './consumer-kafkajs-fixed.ts';

const require = createRequire(import.meta.url);

/** Records of producers at offsets: `p:o` a record of producer p in a transaction, `p:o:abort` p's abort marker, `p:o:commit` its commit marker. */
function records(spec: string) {
  return spec.split(' ').map((s) => {
    const [producer, offset, marker] = s.split(':');
    return {
      offset: offset!,
      key: marker ? Buffer.from([0, 0, 0, marker === 'abort' ? 0 : 1]) : Buffer.from('k'),
      isControlRecord: Boolean(marker),
      batchContext: { producerId: producer!, inTransaction: true },
    };
  });
}

const kept = (messages: ReturnType<typeof records>) =>
  messages.filter((m) => !m.isControlRecord).map((m) => `${m.batchContext.producerId}:${m.offset}`);

describe("kafkajs's read_committed filter", () => {
  it('drops the records of aborted transactions whatever order the broker lists them in', () => {
    // Producer 2 aborted first (offsets 10-11), producer 1 second (12, 14); producer 3 committed.
    const messages = records('2:10 2:11 1:12 3:13 1:14 3:15:commit 2:16:abort 1:17:abort 1:18 2:19');
    const listed = [
      { producerId: '1', firstOffset: '12' },
      { producerId: '2', firstOffset: '10' },
    ];
    assert.deepEqual(kept(filterAbortedMessages({ messages, abortedTransactions: listed }) as never), [
      '3:13',
      '1:18',
      '2:19',
    ]);
  });

  it("ends an aborted transaction at its producer's abort marker, not at another producer's", () => {
    const messages = records('1:0 2:1 2:2:abort 1:3 1:4:abort 1:5');
    const listed = [
      { producerId: '1', firstOffset: '0' },
      { producerId: '2', firstOffset: '1' },
    ];
    assert.deepEqual(kept(filterAbortedMessages({ messages, abortedTransactions: listed }) as never), ['1:5']);
  });

  it('is the filter kafkajs uses: a fetched batch leaves the aborted records of two producers out', () => {
    const Batch = require('kafkajs/src/consumer/batch.js');
    const batch = new Batch('t', '0', {
      partition: 0,
      highWatermark: '20',
      abortedTransactions: [
        { producerId: '1', firstOffset: '12' },
        { producerId: '2', firstOffset: '10' },
      ],
      messages: records('2:10 2:11 1:12 3:13 1:14 3:15:commit 2:16:abort 1:17:abort 1:18 2:19'),
    });
    assert.deepEqual(
      batch.messages.map((m: { offset: string }) => m.offset),
      ['13', '18', '19'],
    );
    assert.equal(typeof kafkajs.Kafka, 'function');
  });

  it("groups a producer's records by partition in order, as kafkajs's own did", () => {
    const messages = Array.from({ length: 7 }, (_, i) => ({ i }));
    const grouped = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata: [{}, {}, {}],
      messages,
      partitioner: ({ message }) => (message as { i: number }).i % 3,
    });
    assert.deepEqual(grouped, { 0: [{ i: 0 }, { i: 3 }, { i: 6 }], 1: [{ i: 1 }, { i: 4 }], 2: [{ i: 2 }, { i: 5 }] });
    assert.strictEqual(require('kafkajs/src/producer/groupMessagesPerPartition.js'), groupMessagesPerPartition);
  });
});
