/**
 * Reads chosen partitions of a compacted topic from the beginning to their end as they are
 * now, committed records only, and returns the last value of every key (null for a key
 * whose last record is a tombstone). The processor restores its window state this way.
 *
 * kafkajs cannot read a partition without a group, so the reader joins a group of its own,
 * never committed, whose assigner hands it exactly the partitions asked for.
 */
import { randomUUID } from 'node:crypto';
import kafkajs from './consumer-kafkajs-fixed.ts';
import type { Logger } from '../observability/logger.ts';
import { Errors, weirError } from '../errors/errors.ts';
import { kafkajsClient } from './consumer-kafkajs.ts';
import type { KafkaSasl } from './kafka-connection.ts';

const { AssignerProtocol } = kafkajs;

/** Options for {@link readCompacted}. */
export interface CompactedReadOptions {
  brokers: string[];
  sasl?: KafkaSasl;
  tls?: boolean;
  clientId: string;
  /** Names the reader's throwaway group: `<groupPrefix>.restore.<uuid>`. */
  groupPrefix: string;
  topic: string;
  partitions: number[];
  log: Logger;
  /** Gives up after this long; 5 minutes unless given. */
  timeoutMs?: number;
}

/** What a read found. */
export interface CompactedState {
  values: Map<string, Buffer | null>;
  /** Records read, superseded ones included (compaction keeps up to one per key, eventually). */
  records: number;
}

function onlyPartitions(topic: string, partitions: number[]) {
  return () => ({
    name: 'WeirRestore',
    version: 1,
    async assign({ members }: { members: { memberId: string }[] }) {
      return members.map(({ memberId }, i) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: { [topic]: i === 0 ? partitions : [] },
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }: { topics: string[] }) {
      return {
        name: 'WeirRestore',
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.alloc(0) }),
      };
    },
  });
}

/** Reads the partitions to the end offsets they have when the read starts. */
export async function readCompacted(options: CompactedReadOptions): Promise<CompactedState> {
  const kafka = kafkajsClient(options);
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(options.topic);
    ends = new Map(
      offsets
        .filter((o) => options.partitions.includes(o.partition) && BigInt(o.high) > BigInt(o.low))
        .map((o) => [o.partition, BigInt(o.high)]),
    );
  } finally {
    await admin.disconnect();
  }
  const values = new Map<string, Buffer | null>();
  let records = 0;
  if (ends.size === 0) return { values, records };
  const position = new Map<number, bigint>();
  const consumer = kafka.consumer({
    groupId: `${options.groupPrefix}.restore.${randomUUID()}`,
    partitionAssigners: [onlyPartitions(options.topic, [...ends.keys()]) as never],
    readUncommitted: false,
    maxBytesPerPartition: 8 * 2 ** 20,
    maxWaitTimeInMs: 200,
    allowAutoTopicCreation: false,
  });
  let finish!: () => void;
  const caughtUp = new Promise<void>((resolve) => (finish = resolve));
  const advance = (partition: number, lastOffset: string | undefined) => {
    if (lastOffset === undefined || lastOffset === null) return;
    const next = BigInt(lastOffset) + 1n;
    if (next > (position.get(partition) ?? 0n)) position.set(partition, next);
    if ([...ends].every(([p, end]) => (position.get(p) ?? 0n) >= end)) finish();
  };
  // Batches of nothing but transaction markers never reach eachBatch; their offsets arrive here.
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => advance(e.payload.partition, e.payload.lastOffset));
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          if (m.key === null) continue;
          records++;
          values.set(m.key.toString('utf8'), m.value);
        }
        advance(batch.partition, batch.lastOffset());
      },
    });
    const timeoutMs = options.timeoutMs ?? 300_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            weirError(
              Errors.KafkaRequestFailed,
              `reading ${options.topic} partitions ${[...ends.keys()].join(', ')} did not reach their end within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
    });
    await Promise.race([caughtUp, timedOut]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
  }
  options.log.debug(
    {
      topic: options.topic,
      ends: Object.fromEntries([...ends].map(([p, e]) => [p, String(e)])),
      positions: Object.fromEntries([...position].map(([p, e]) => [p, String(e)])),
      records,
    },
    'read compacted partitions',
  );
  return { values, records };
}
