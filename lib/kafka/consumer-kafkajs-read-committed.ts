/**
 * kafkajs, with its read_committed filter fixed; every Weir module that reads Kafka with
 * kafkajs imports it from here.
 *
 * kafkajs 2.2.4, its last release, drops the records of aborted transactions by walking the
 * aborted-transaction list of a fetch as if it were sorted by first offset, and activates at
 * most one aborted transaction per record. Kafka returns that list in the order the aborts
 * completed, so where two producers abort in one partition (three processor tasks killed
 * at once, each writing to the output topic) a read_committed kafkajs consumer saw records
 * of aborted transactions — found by the processor's crash test, and checked against
 * @platformatic/kafka, which dropped them. The fix replaces kafkajs's internal
 * `filterAbortedMessages` before kafkajs loads it, with the rule Kafka's own consumer
 * follows: transactions sorted by first offset, every one whose first offset a record has
 * reached is open for its producer until that producer's abort marker.
 */
import { createRequire } from 'node:module';
import type * as Kafkajs from 'kafkajs';

const require = createRequire(import.meta.url);

const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

interface FetchedMessage {
  offset: string;
  key: Buffer | null;
  isControlRecord?: boolean;
  batchContext: { producerId: string | number; inTransaction: boolean };
}

/** The records of a fetch that belong to no aborted transaction (control records are kept: kafkajs drops them after). */
export function filterAbortedMessages({
  messages,
  abortedTransactions,
}: {
  messages: FetchedMessage[];
  abortedTransactions?: { producerId: string | number; firstOffset: string | number }[];
}): FetchedMessage[] {
  if (!abortedTransactions?.length) return messages;
  const pending = [...abortedTransactions].sort((a, b) => {
    const d = BigInt(a.firstOffset) - BigInt(b.firstOffset);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  });
  let next = 0;
  const open = new Set<string>();
  return messages.filter((message) => {
    const offset = BigInt(message.offset);
    while (next < pending.length && offset >= BigInt(pending[next]!.firstOffset))
      open.add(String(pending[next++]!.producerId));
    const producer = String(message.batchContext.producerId);
    if (message.isControlRecord) {
      if (message.key && Buffer.from(message.key).equals(ABORT_MARKER_KEY)) open.delete(producer);
      return true;
    }
    return !(open.has(producer) && message.batchContext.inTransaction);
  });
}

const filterPath = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
const batchPath = require.resolve('kafkajs/src/consumer/batch.js');
if (require.cache[batchPath] && require.cache[filterPath]?.exports !== filterAbortedMessages)
  throw new Error(
    'kafkajs was loaded before lib/kafka/consumer-kafkajs-read-committed.ts: import kafkajs from there, so that its read_committed filter is fixed',
  );
require.cache[filterPath] = {
  id: filterPath,
  filename: filterPath,
  loaded: true,
  exports: filterAbortedMessages,
} as never;

/** The kafkajs module, with the fix in place. */
const kafkajs = require('kafkajs') as typeof Kafkajs;
export default kafkajs;
