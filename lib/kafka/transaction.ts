/**
 * How a batch's outputs and its input offsets leave the processor together: in one Kafka
 * transaction (exactly once), or sent and then committed (at least once, for comparison).
 * One interface for both; `transaction-kafkajs.ts` implements them.
 */
import type { OffsetCommit } from './consumer.ts';

/** A record to produce. Without a partition, the client's partitioner picks one from the key. */
export interface OutgoingRecord {
  topic: string;
  partition?: number;
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string>;
}

/** Commits one batch of work: the records and the offsets of what was read. */
export interface BatchCommitter {
  /**
   * Takes over the transactional id (exactly once): an earlier producer with the same id
   * is fenced and its open transaction aborted, so it can never commit again.
   */
  init(): Promise<void>;
  /** Sends `records` and commits `offsets` for the consumer group: both or, exactly once, neither. */
  commit(records: OutgoingRecord[], offsets: OffsetCommit[]): Promise<void>;
  close(): Promise<void>;
}
