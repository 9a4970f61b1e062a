/**
 * How Weir consumes Kafka: a group member that hands over batches, one partition at a time,
 * and commits nothing on its own — offsets go out in the caller's transaction (or, for
 * at-least-once, through {@link GroupConsumer.commit}). One interface, so the processor
 * does not depend on a client library; `consumer-kafkajs.ts` implements it.
 */

/** A record as consumed, with its headers decoded as UTF-8. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Create time, epoch ms. */
  timestamp: number;
}

/** Records of one partition, in order. */
export interface ConsumedBatch {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
  /** Where the next fetch starts once the whole batch is done: past its last record, transaction markers included. */
  nextOffset: string;
  /** The partition's high watermark when the batch was fetched. */
  highWatermark: string;
}

export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

/** An offset to commit: the next record to read. */
export interface OffsetCommit {
  topic: string;
  partition: number;
  offset: string;
}

/** How a member's batches and assignments reach the caller. */
export interface GroupConsumerHandlers {
  /** The partitions of this member after a rebalance (all of its subscribed topics). */
  onAssigned(assignment: TopicPartitions[]): void;
  /**
   * One batch. Batches of one partition never overlap; those of different partitions may.
   * `done(offset)` tells where the next fetch of this partition starts (no later than
   * `batch.nextOffset`); a batch left without it is fetched again.
   */
  onBatch(batch: ConsumedBatch, control: BatchControl): Promise<void>;
  /** The consumer failed; it rejoins the group and resumes from the committed offsets. */
  onRestart(error: Error): void;
}

export interface BatchControl {
  /** The next fetch of this partition starts at `offset`. */
  done(offset: string): void;
  /** Keeps the membership alive during long work. */
  heartbeat(): Promise<void>;
}

/** A member of one consumer group reading a set of topics. */
export interface GroupConsumer {
  /** Joins the group and consumes until stopped. */
  start(handlers: GroupConsumerHandlers): Promise<void>;
  /** Stops fetching a partition of this member. */
  pause(topic: string, partition: number): void;
  /** Fetches a paused partition again, from where its last batch was done. */
  resume(topic: string, partition: number): void;
  /** Commits offsets outside any transaction (at-least-once delivery). */
  commit(offsets: OffsetCommit[]): Promise<void>;
  /** Leaves the group; resolves once no batch runs any more. */
  stop(): Promise<void>;
}
