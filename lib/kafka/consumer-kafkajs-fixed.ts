/**
 * kafkajs, with two of its defects fixed; every Weir module that uses kafkajs for the
 * processor imports it from here, before kafkajs is loaded anywhere else in the process.
 *
 * 1. Its read_committed filter. kafkajs 2.2.4, its last release, drops the records of
 *    aborted transactions by walking the aborted-transaction list of a fetch as if it were
 *    sorted by first offset, activating at most one transaction per record. Kafka returns
 *    that list in the order the aborts completed, so where two producers abort in one
 *    partition (three processor tasks killed at once, each writing to the output topic) a
 *    read_committed kafkajs consumer saw records of aborted transactions — found by the
 *    processor's crash test, and checked against @platformatic/kafka, which dropped them.
 *    The fix follows the rule of Kafka's own consumer: transactions sorted by first offset,
 *    each open for its producer from its first offset until that producer's abort marker.
 * 2. Its producer groups a send's records by partition by copying the partition's list for
 *    every record, quadratic in the records of one partition; with the processor's
 *    changelog records in one partition per batch that was 8 % of its CPU in a profile.
 *
 * Both replace kafkajs internal modules in the module cache before kafkajs loads them.
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

/** kafkajs's groupMessagesPerPartition, linear: records by the partition the partitioner picks. */
export function groupMessagesPerPartition({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: {
  topic: string;
  partitionMetadata: unknown[];
  messages: unknown[];
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;
}): Record<number, unknown[]> {
  const out: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return out;
  for (const message of messages) (out[partitioner({ topic, partitionMetadata, message })] ??= []).push(message);
  return out;
}

const replacements: [string, unknown][] = [
  ['kafkajs/src/consumer/filterAbortedMessages.js', filterAbortedMessages],
  ['kafkajs/src/producer/groupMessagesPerPartition.js', groupMessagesPerPartition],
];
for (const [module, exports] of replacements) {
  const path = require.resolve(module);
  const cached = require.cache[path];
  if (cached && cached.exports !== exports)
    throw new Error(
      `kafkajs was loaded before lib/kafka/consumer-kafkajs-fixed.ts: import kafkajs from there, so that ${module} is fixed`,
    );
  require.cache[path] = { id: path, filename: path, loaded: true, exports } as never;
}

/** The kafkajs module, with the fixes in place. */
const kafkajs = require('kafkajs') as typeof Kafkajs;
export default kafkajs;
